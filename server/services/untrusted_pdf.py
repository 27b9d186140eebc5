"""Reading the document information of a PDF that anyone may upload (public POST /verify), with
its work bounded.

A certificate as reportlab writes it names itself in plain text (checklists.certificate.PDF_MARK),
found without parsing. Only a file another program re-saved needs pypdf; and a file built to hurt
can hide its /Info in an object stream that inflates to 70 MB (12-14 s of CPU and 100+ MB per
upload before this module). So pypdf runs here in a child process with hard limits:

- the child caps its own address space (RLIMIT_AS) and CPU time (RLIMIT_CPU) before it reads the
  file, and the parent kills it after a wall-clock timeout;
- inside it, pypdf's configuration caps what any one stream may inflate to, and how many elements
  an array or dictionary may hold;
- at most MAX_AT_ONCE children run at a time; a request that waits longer than QUEUE_SECONDS for
  one is refused (429 with Retry-After), so a burst costs queueing, not memory.

Whatever goes wrong in the child (not a PDF, damaged, over a limit, killed) means the same: the
file carries no Keywords we can read, hence no certificate reference.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

from server.errors import TooManyRequests

log = logging.getLogger("dabiao.verify")

MiB = 1024 * 1024
MAX_MEMORY_BYTES = 192 * MiB  # the child's address space; Python with pypdf imported uses about 55 MiB
MAX_CPU_SECONDS = 4  # the child's CPU time; a re-saved certificate needs about 0.3 s, start-up included
MAX_WALL_SECONDS = 8.0  # killed after this, whatever it is doing
MAX_STREAM_BYTES = 4 * MiB  # what one stream may inflate to (a certificate's largest is a few KB)
MAX_ELEMENTS = 10_000  # entries of one PDF array or dictionary
MAX_KEYWORDS_CHARS = 4096  # of the Keywords handed back (the certificate mark needs about 130)
MAX_AT_ONCE = 2
QUEUE_SECONDS = 10.0

_slots = threading.BoundedSemaphore(MAX_AT_ONCE)

# Run as `python -I -c _CHILD MEMORY CPU STREAM ELEMENTS CHARS` with the PDF on stdin; prints the
# Keywords as a JSON string. Limits first: nothing of the file is read before they hold.
_CHILD = """
import io, json, resource, sys
memory, cpu, stream, elements, chars = map(int, sys.argv[1:6])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
import logging
logging.disable(logging.CRITICAL)
from pypdf import PdfReader, apply_configuration
data = sys.stdin.buffer.read()
caps = {name: stream for name in (
    "maximum_declared_stream_length", "array_based_stream_maximum_output_length", "jbig2_maximum_output_length",
    "lzw_maximum_output_length", "run_length_maximum_output_length", "zlib_maximum_output_length",
    "zlib_maximum_recovery_input_length", "brotli_maximum_output_length", "image_maximum_buffer_size",
    "stream_decoding_work_maximum_length", "xmp_maximum_input_length")}
caps.update(array_maximum_element_count=elements, dictionary_maximum_element_count=elements)
with apply_configuration(**caps):
    info = PdfReader(io.BytesIO(data), strict=False).metadata
    keywords = info.get("/Keywords") if info else None
    text = str(keywords.get_object() if hasattr(keywords, "get_object") else keywords) if keywords else ""
sys.stdout.write(json.dumps(text[:chars]))
"""


def looks_like_pdf(data: bytes) -> bool:
    """Whether the file starts like a PDF: the `%PDF-` header within its first KiB (where readers
    look for it)."""
    return b"%PDF-" in data[:1024]


def keywords(data: bytes) -> str:
    """The Keywords of a PDF's document information, read by pypdf in a child process under the
    limits above; "" for a file that is no PDF, has none, or could not be read within them.
    TooManyRequests when every slot stays busy for QUEUE_SECONDS."""
    if not looks_like_pdf(data):
        return ""
    if not _slots.acquire(timeout=QUEUE_SECONDS):
        raise TooManyRequests("证书核验繁忙，请稍后再试 / too many certificate checks at once; retry shortly",
                              retry_after=int(QUEUE_SECONDS))
    try:
        args = [str(n) for n in (MAX_MEMORY_BYTES, MAX_CPU_SECONDS, MAX_STREAM_BYTES, MAX_ELEMENTS, MAX_KEYWORDS_CHARS)]
        done = subprocess.run([sys.executable, "-I", "-c", _CHILD, *args], input=data, capture_output=True,
                              timeout=MAX_WALL_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        log.warning("uploaded PDF: reading its metadata took over %.0f s; treated as none", MAX_WALL_SECONDS)
        return ""
    finally:
        _slots.release()
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        log.info("uploaded PDF: metadata unreadable (%s); treated as none", last[0][:200])
        return ""
    try:
        text = json.loads(done.stdout)
    except ValueError:
        return ""
    return text if isinstance(text, str) else ""
