"""TensorBoard scalars written on the caller's thread, so a failed write is seen there.

tensorboardX's ``SummaryWriter`` hands events to a worker thread through a bounded
queue. When that thread dies on a write error (a full disk), ``add_scalar`` blocks
forever on the full queue: training hangs, SIGTERM is not acted on and the run lock is
never released; and its ``atexit`` handler prints tracebacks at exit. This writer uses
only tensorboardX's protocol buffers and checksum: one event per row, appended and
flushed before ``write`` returns, so an ``OSError`` reaches the caller (``Logger``,
which reports it and drops the writer). No thread, no queue, no ``atexit``.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path


class ScalarWriter:
    """Appends scalar events to one TensorBoard event file in ``log_dir``."""

    def __init__(self, log_dir: Path):
        from tensorboardX.proto import event_pb2, summary_pb2
        from tensorboardX.record_writer import masked_crc32c

        self._event, self._summary, self._crc = event_pb2.Event, summary_pb2.Summary, masked_crc32c
        log_dir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self.path = log_dir / name
        # Appending: a resume in the same second continues the file instead of emptying it.
        self._file = open(self.path, "ab")
        try:
            self._write(self._event(wall_time=time.time(), file_version="brain.Event:2"))
        except OSError:
            self.close()
            raise

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """One event holding ``scalars`` at ``step``, on disk (flushed) when this returns."""
        values = [self._summary.Value(tag=k, simple_value=v) for k, v in scalars.items()]
        self._write(
            self._event(wall_time=time.time(), step=step, summary=self._summary(value=values))
        )

    def _write(self, event) -> None:
        data = event.SerializeToString()
        header = struct.pack("Q", len(data))  # the TFRecord framing TensorBoard reads
        record = header + struct.pack("I", self._crc(header)) + data
        self._file.write(record + struct.pack("I", self._crc(data)))
        self._file.flush()

    def close(self) -> None:
        """Close the file; an error closing it is raised, but the file is closed anyway."""
        self._file.close()
