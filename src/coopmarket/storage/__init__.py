"""Object storage for product photos: local disk (the embedded default) or S3 through boto3.

``base.ObjectStorage`` is the interface; ``local.LocalStorage`` and ``s3.S3Storage`` implement it;
``deps.build_storage`` picks one from the settings. The local store's upload and file routes are in
``routes.py``.
"""
