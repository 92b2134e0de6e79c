"""Weights catalogue and downloads, against a local HTTP server on 127.0.0.1 (no network)."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading

import pytest

from s3pot import weights as w
from s3pot.cli.main import main

PAYLOAD = bytes(range(256)) * 1200  # 307,200 bytes


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file.bin with HTTP Range support (or ignoring it, if told)."""

    honour_range = True
    requests: list = []

    def do_GET(self):  # noqa: N802 - http.server naming
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        if self.path != "/file.bin":
            self.send_error(404)
            return
        start = 0
        if rng and self.honour_range:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(PAYLOAD):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.requests = []
    RangeHandler.honour_range = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def entry(url: str, sha: str | None = None) -> w.WeightFile:
    return w.WeightFile("test_file", "file.bin", url + "/file.bin", sha or hashlib.sha256(PAYLOAD).hexdigest(),
                        len(PAYLOAD), "test payload")


def test_catalog_has_the_three_official_sam_files():
    for kind, md5 in (("vit_b", "01ec64"), ("vit_l", "0b3195"), ("vit_h", "4b8939")):
        wf = w.CATALOG[f"sam_{kind}"]
        assert wf.filename == f"sam_{kind}_{md5}.pth"
        assert wf.url == f"https://dl.fbaipublicfiles.com/segment_anything/{wf.filename}"
        assert re.fullmatch(r"[0-9a-f]{64}", wf.sha256) and wf.size > 300_000_000


def test_download_verifies_and_renames(server, tmp_path):
    path = w.download(entry(server), tmp_path)
    assert path == tmp_path / "file.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "file.bin.part").exists()
    assert RangeHandler.requests == [None]
    assert w.download(entry(server), tmp_path) == path  # present and verified: no request
    assert len(RangeHandler.requests) == 1


def test_download_resumes_from_part_file(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:100_000])
    seen = []
    path = w.download(entry(server), tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == PAYLOAD
    assert RangeHandler.requests == ["bytes=100000-"]
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    RangeHandler.honour_range = False
    (tmp_path / "file.bin.part").write_bytes(b"x" * 5000)  # wrong bytes: must be discarded
    assert w.download(entry(server), tmp_path).read_bytes() == PAYLOAD


def test_complete_part_file_needs_no_transfer(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    assert w.download(entry(server), tmp_path).read_bytes() == PAYLOAD
    assert RangeHandler.requests == []


def test_checksum_mismatch_removes_download(server, tmp_path):
    with pytest.raises(w.WeightsError, match="fails verification"):
        w.download(entry(server, sha="0" * 64), tmp_path)
    assert not (tmp_path / "file.bin").exists() and not (tmp_path / "file.bin.part").exists()


def test_offline_error_says_which_file_to_put_where(tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wf = entry(f"http://127.0.0.1:{port}")
    with pytest.raises(w.WeightsError) as e:
        w.download(wf, tmp_path, timeout=5)
    msg = str(e.value)
    assert "\n" not in msg and f"put file.bin, {len(PAYLOAD):,} bytes" in msg and str(tmp_path / "file.bin") in msg


def test_cli_list_download_verify(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(w.CATALOG, "test_file", entry(server))
    assert main(["weights", "--dir", str(tmp_path), "list"]) == 0
    assert re.search(r"test_file .* missing", capsys.readouterr().out)
    assert main(["weights", "--dir", str(tmp_path), "download", "test_file"]) == 0
    assert main(["weights", "--dir", str(tmp_path), "verify"]) == 0
    assert re.search(r"test_file\s+OK", capsys.readouterr().out)
    (tmp_path / "file.bin").write_bytes(b"tampered")
    assert main(["weights", "--dir", str(tmp_path), "verify", "test_file"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["weights", "--dir", str(tmp_path), "download", "nope"]) == 1
    assert "unknown weights 'nope'" in capsys.readouterr().err
