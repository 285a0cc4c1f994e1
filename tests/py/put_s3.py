#!/usr/bin/env python3
"""Copies a local file to S3 (SeaweedFS here) with pyarrow, for tests that read from s3://.

Usage: put_s3.py FILE s3://bucket/key   (AWS_* and FLOE_S3_ENDPOINT from the environment)
"""
from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

from pyarrow import fs


def main(argv: list[str]) -> int:
    source, target = argv
    endpoint = urlparse(os.environ["FLOE_S3_ENDPOINT"])
    s3 = fs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "http",
    )
    fs.copy_files(source, target.removeprefix("s3://"), destination_filesystem=s3)
    print(f"copied {source} to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
