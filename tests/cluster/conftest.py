"""The moto S3 server of the object-store tests serves the cluster tests' bucket too."""

from tests.test_object_store import s3, s3_env

__all__ = ["s3", "s3_env"]
