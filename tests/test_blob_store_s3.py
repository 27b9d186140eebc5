"""The S3 attachment store against a real S3 API: moto's server on a local port, spoken to over HTTP
by boto3 exactly as a deployment would speak to AWS or MinIO (DABIAO_BLOB_STORE=s3://bucket/prefix)."""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from litestar.testing import TestClient
from serverkit import TODAY, Server, demo_dir, free_port, phone  # noqa: F401  (demo_dir: fixture)

from checklists.model import Answer
from server.app import create_app
from server.services.demo import tiny_png
from server.settings import Settings
from server.store.blobs import DigestMismatch, FileStore, S3Store, open_blob_store

BUCKET = "dabiao-test"
VERSIONED = "dabiao-versioned"  # every overwrite would leave a second version here


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """A moto S3 server on a free port, with dummy credentials and two buckets."""
    from moto.server import ThreadedMotoServer

    werkzeug = logging.getLogger("werkzeug")  # moto's server logs one access line per request
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        url = f"http://127.0.0.1:{port}"
        try:
            s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            s3.create_bucket(Bucket=VERSIONED)
            s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
            yield url
        finally:
            server.stop()
            werkzeug.setLevel(level)


@pytest.fixture
def s3(s3_url: str):
    """A plain boto3 client for looking into the buckets from outside the code under test."""
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix of the test's own: tests share the moto server but never each other's objects."""
    return f"t/{request.node.name}"


def blob(label: str, size: int = 50_000) -> tuple[str, bytes]:
    """A real 1×1 PNG padded to `size` bytes (passes the server's content and image-header checks),
    distinct per label."""
    head = tiny_png(label)
    data = head + random.Random(label).randbytes(size - len(head))
    return hashlib.sha256(data).hexdigest(), data


def key(prefix: str, sha: str) -> str:
    return f"{prefix}/{sha[:2]}/{sha[2:4]}/{sha}"


def objects(s3, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])]


def versions(s3, bucket: str, k: str) -> list[dict]:
    return [v for v in s3.list_object_versions(Bucket=bucket, Prefix=k).get("Versions", []) if v["Key"] == k]


def counting(client) -> list[str]:
    """Record bucket/key of every PutObject the client sends (the real wire calls, via botocore's events)."""
    puts: list[str] = []
    client.meta.events.register("provide-client-params.s3.PutObject",
                                lambda params, **_: puts.append(f"{params['Bucket']}/{params['Key']}"))
    return puts


# ---------------------------------------------------------------------------------------------
# S3Store on its own


def test_put_get_has_round_trip_with_dedupe(s3, prefix: str):
    store = S3Store(VERSIONED, prefix, s3)
    puts = counting(s3)
    sha, data = blob("round-trip")
    assert not store.has(sha)

    assert store.put(sha, data) is True
    assert store.has(sha)
    assert store.get(sha) == data
    assert objects(s3, VERSIONED, prefix) == [key(prefix, sha)]
    assert s3.get_object(Bucket=VERSIONED, Key=key(prefix, sha))["Body"].read() == data

    # The same bytes again: nothing is uploaded and the object keeps its one version.
    assert store.put(sha, data) is False
    assert len(puts) == 1
    assert len(versions(s3, VERSIONED, key(prefix, sha))) == 1
    assert store.get(sha) == data


def test_a_racing_writer_never_overwrites_a_committed_blob(s3, prefix: str):
    """Another server committed the blob between our existence check and our write: the conditional
    write (If-None-Match: *) is refused by S3 and put reports "already there"."""

    class Blind(S3Store):
        def has(self, sha256: str) -> bool:
            return False  # as if the other writer's object appeared just after we looked

    sha, data = blob("race")
    assert S3Store(VERSIONED, prefix, s3).put(sha, data) is True
    before = s3.head_object(Bucket=VERSIONED, Key=key(prefix, sha))
    assert Blind(VERSIONED, prefix, s3).put(sha, data) is False
    assert len(versions(s3, VERSIONED, key(prefix, sha))) == 1
    after = s3.head_object(Bucket=VERSIONED, Key=key(prefix, sha))
    assert (after["VersionId"], after["ETag"]) == (before["VersionId"], before["ETag"])


def test_wrong_digest_is_refused_and_nothing_is_stored(s3, prefix: str):
    store = S3Store(BUCKET, prefix, s3)
    puts = counting(s3)
    sha, data = blob("claimed")
    _, other = blob("actually-sent")
    with pytest.raises(DigestMismatch):
        store.put(sha, other)
    assert puts == []
    assert objects(s3, BUCKET, prefix) == []
    assert not store.has(sha)
    assert not store.has(hashlib.sha256(other).hexdigest())


def test_missing_blob_and_errors_other_than_not_found(s3, prefix: str):
    store = S3Store(BUCKET, prefix, s3)
    sha, _ = blob("never-stored")
    with pytest.raises(FileNotFoundError, match=key(prefix, sha)):
        store.get(sha)

    # has() answers False only for 404: a refused request must not read as "absent, upload it".
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:1", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        with pytest.raises(ClientError):
            S3Store(BUCKET, prefix, client).has(sha)


def test_key_layout_without_prefix(s3):
    sha, data = blob("no-prefix", 1000)
    store = S3Store(BUCKET, "", s3)
    assert store.key(sha) == f"{sha[:2]}/{sha[2:4]}/{sha}"
    assert store.put(sha, data)
    assert s3.get_object(Bucket=BUCKET, Key=f"{sha[:2]}/{sha[2:4]}/{sha}")["Body"].read() == data


# ---------------------------------------------------------------------------------------------
# open_blob_store


def test_open_blob_store_from_settings(tmp_path: Path, s3_url: str):
    store = open_blob_store(Settings(data_dir=tmp_path, blob_store=f"s3://{BUCKET}/a/b/", s3_endpoint_url=s3_url,
                                     s3_region="us-east-1"))
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == (BUCKET, "a/b")
    assert store.client.meta.endpoint_url == s3_url and store.client.meta.region_name == "us-east-1"
    assert isinstance(open_blob_store(Settings(data_dir=tmp_path)), FileStore)


@pytest.mark.parametrize("url", ["ftp://x", "s3://", "/srv/blobs", "s3:/bucket/p", "http://bucket/p"])
def test_open_blob_store_refuses_anything_else(tmp_path: Path, url: str):
    with pytest.raises(ValueError, match="DABIAO_BLOB_STORE"):
        open_blob_store(Settings(data_dir=tmp_path, blob_store=url))


# ---------------------------------------------------------------------------------------------
# The whole app with its attachments in S3


@pytest.fixture
def s3_server(demo_dir: Path, tmp_path: Path, s3_url: str, prefix: str) -> Iterator[Server]:
    """The demo server (a fresh copy of the session's demo database) with blob_store on moto."""
    target = tmp_path / "data"
    shutil.copytree(demo_dir, target)
    settings = Settings(data_dir=target, blob_store=f"s3://{BUCKET}/{prefix}", s3_endpoint_url=s3_url,
                        s3_region="us-east-1", today=lambda: TODAY)
    with TestClient(create_app(settings)) as client:
        yield Server(client, settings, {})


def app_store(srv: Server) -> S3Store:
    store = srv.client.app.state.blobs
    assert isinstance(store, S3Store)
    return store


def test_resumable_upload_commits_to_s3(s3_server: Server, s3, prefix: str):
    srv, user = s3_server, "kf_field_qzh"
    puts = counting(app_store(srv).client)
    sha, data = blob("chunked", 600_000)
    total = len(data)
    cuts = [0, 200_000, 400_000, total]

    def send(offset: int, end: int):
        return srv.as_user(user, "PUT", f"/sync/uploads/{sha}", params={"offset": offset, "total": total},
                           content=data[offset:end], headers={"Content-Type": "application/octet-stream"})

    r = send(0, cuts[1])
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": sha, "received": 200_000, "complete": False}

    # A stale chunk (the reply to the first was lost, so the phone sends it again) and one from the future.
    for offset, end in ((0, cuts[1]), (cuts[2], cuts[3])):
        r = send(offset, end)
        assert r.status_code == 409, r.text
        assert r.json()["received"] == 200_000

    r = send(cuts[1], cuts[2])
    assert r.json() == {"sha256": sha, "received": 400_000, "complete": False}
    assert objects(s3, BUCKET, prefix) == []  # nothing reaches the bucket before the whole is verified
    assert srv.as_user(user, "GET", f"/sync/uploads/{sha}").json() == {"sha256": sha, "received": 400_000,
                                                                      "complete": False}

    r = send(cuts[2], cuts[3])
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": sha, "received": total, "complete": True}
    assert objects(s3, BUCKET, prefix) == [key(prefix, sha)]
    assert s3.get_object(Bucket=BUCKET, Key=key(prefix, sha))["Body"].read() == data
    assert not FileStore(srv.settings.data_dir / "blobs").has(sha)  # not on the volume
    assert list((srv.settings.data_dir / "uploads").glob("*.part")) == []

    r = srv.as_user("kf_reviewer", "GET", f"/attachments/{sha}")
    assert r.status_code == 200 and r.content == data

    # The same bytes again from another phone: complete at once, nothing sent to S3.
    r = srv.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{sha}", params={"offset": 0, "total": total},
                    content=data[: cuts[1]], headers={"Content-Type": "application/octet-stream"})
    assert r.json() == {"sha256": sha, "received": total, "complete": True}
    assert puts == [f"{BUCKET}/{key(prefix, sha)}"]

    other, _ = blob("not-uploaded")
    r = srv.as_user(user, "POST", "/sync/blobs/missing", json={"sha256": [sha, other]})
    assert r.status_code == 200, r.text
    assert r.json()["missing"] == [{"sha256": other, "received": 0, "complete": False}]

    # An upload whose bytes do not hash to its name: refused on the last chunk, never reaches the bucket,
    # and the partial is discarded so the phone starts that blob again.
    bad_sha, good = blob("corrupt", 300_000)
    bad = good[:150_000] + bytes(150_000)
    for offset in (0, 150_000):
        r = srv.as_user(user, "PUT", f"/sync/uploads/{bad_sha}", params={"offset": offset, "total": len(bad)},
                        content=bad[offset : offset + 150_000])
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "sha256"
    assert objects(s3, BUCKET, prefix) == [key(prefix, sha)]
    assert srv.as_user(user, "GET", f"/sync/uploads/{bad_sha}").json()["received"] == 0
    assert len(puts) == 1


def test_whole_body_upload_to_s3(s3_server: Server, s3, prefix: str):
    srv, user = s3_server, "kf_field_qzh"
    sha, data = blob("whole", 80_000)

    r = srv.as_user(user, "PUT", f"/attachments/{sha}", content=data)
    assert r.status_code == 200, r.text
    assert r.json() == {"sha256": sha, "size": len(data), "media_type": "image/png", "created": True}
    assert s3.get_object(Bucket=BUCKET, Key=key(prefix, sha))["Body"].read() == data

    r = srv.as_user(user, "PUT", f"/attachments/{sha}", content=data)
    assert r.json()["created"] is False
    assert srv.as_user(user, "HEAD", f"/attachments/{sha}").status_code == 200
    assert srv.as_user(user, "GET", f"/attachments/{sha}").content == data

    # Bytes that do not hash to the name: refused, and the bucket is untouched.
    wrong, _ = blob("whole-claimed", 80_000)
    r = srv.as_user(user, "PUT", f"/attachments/{wrong}", content=data)
    assert r.status_code == 422, r.text
    assert objects(s3, BUCKET, prefix) == [key(prefix, sha)]
    assert srv.as_user(user, "GET", f"/attachments/{wrong}").status_code == 404


def test_reference_client_syncs_evidence_into_s3(s3_server: Server, s3, prefix: str, tmp_path: Path):
    srv = s3_server
    aid = srv.assessment_id("hn-cs-kf-qzh")
    device = phone(srv, tmp_path / "phone.db", "kf_field_qzh", "phone-s3")
    device.sync()

    sha, data = blob("phone-photo", 700_000)
    photo = device.attach(data, "photo", "议事协调机构成立文件")
    assert photo.sha256 == sha
    device.set_answer(aid, "TS-BZ-01", Answer(value=True, evidence=[photo]))
    report = device.sync()
    assert report.uploaded == 1 and report.applied == 1 and report.rejected == 0
    assert device.pending_count() == 0

    assert s3.get_object(Bucket=BUCKET, Key=key(prefix, sha))["Body"].read() == data
    view = srv.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()
    assert view["answers"]["TS-BZ-01"]["value"] is True
    assert [e["sha256"] for e in view["answers"]["TS-BZ-01"]["evidence"]] == [sha]
    assert srv.as_user("kf_reviewer", "GET", f"/attachments/{sha}").content == data
