"""What a run writes: SONATA element reports and spikes, the recorders that feed them, the
config's SONATA ``reports`` section, and the run files (run.json, timings, exclusions)."""

from multiscale_run.output.element_report import ReportWriter
from multiscale_run.output.frames import VALID_FRAMES_ATTR, FrameClock, read_valid_frames, report_window
from multiscale_run.output.layout import h5py_has_mpi
from multiscale_run.output.spikes import write_spikes

__all__ = [
    "VALID_FRAMES_ATTR",
    "FrameClock",
    "ReportWriter",
    "h5py_has_mpi",
    "read_valid_frames",
    "report_window",
    "write_spikes",
]
