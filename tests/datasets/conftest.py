"""The dataset tests fetch URL images from a loopback server only (the MMC4 tests' server and
their guard refusing any connection that is not loopback)."""

from tests.mmc4.conftest import ImageServer, loopback_only, send

__all__ = ["ImageServer", "loopback_only", "send"]
