"""One storage layer for every stage: local paths and s3:// URIs, content-keyed results.

`Store(uri)` reads, writes (atomically), lists and deletes keys under a root URI, with
bounded retries against S3; `upload_dir` / `download_dir` move whole directories
(checkpoints, models); `ray_storage(uri)` gives Ray Train's `RunConfig` the same place.
"""

from swelego_ray.storage._dirs import MANIFEST, download_dir, is_published_dir, upload_dir
from swelego_ray.storage._keys import content_hash, result_key
from swelego_ray.storage._local import default_cache_root, file_lock, try_file_lock
from swelego_ray.storage._store import Store, read_source, writable_store
from swelego_ray.storage._uri import S3Options, StorageError, parse_uri, ray_storage, split_uri

__all__ = [
    "MANIFEST",
    "S3Options",
    "StorageError",
    "Store",
    "content_hash",
    "default_cache_root",
    "download_dir",
    "file_lock",
    "is_published_dir",
    "parse_uri",
    "ray_storage",
    "read_source",
    "result_key",
    "split_uri",
    "try_file_lock",
    "upload_dir",
    "writable_store",
]
