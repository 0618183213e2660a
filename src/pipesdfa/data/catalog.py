"""The dataset catalog: the facts about each dataset, in one place.

Every consumer reads this table: the workloads and the hardware simulator (input shape,
classes, samples per training epoch), ``pipesdfa data info`` (sensor size, source), the
loaders' error messages (where to get the files) and the CLI (the dataset names). A test
checks every loader against its record.

* ``input_shape``: one time step of one sample as the loader frames it with its default
  options (``(C, H, W)`` for event cameras, ``(channels,)`` for 1-D sensors);
* ``sensor_size``: ``(W, H, P)`` of the events the reader returns (tonic's convention);
* ``epoch_samples``: training-split size, from ``../shared/design/DATASETS.md``: N-MNIST 60,000;
  SHD 8,156; Braille (events and analog) 80 % of 1,350; DVS128 Gesture 1,176 (one sample per label-CSV row of the
  training trials, the cutting rule of our loader and SpikingJelly's; tonic keeps 1,077);
  N-Caltech101 80 % of 8,709 (random 80/20, the authors' split); digits: 80 % of 1,797.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DatasetRecord", "CATALOG", "get_record", "dataset_names"]


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset's facts (see the module docstring)."""

    name: str
    title: str
    input_shape: tuple[int, ...]
    num_classes: int
    sensor_size: tuple[int, int, int]
    epoch_samples: int
    source: str
    embedded: bool = False


CATALOG: dict[str, DatasetRecord] = {r.name: r for r in (
    DatasetRecord("nmnist", "N-MNIST", (2, 34, 34), 10, (34, 34, 2), 60000,
                  "Mendeley Data doi:10.17632/468j46mzdv.1 (train.zip, test.zip; or "
                  "`pipesdfa data fetch nmnist --to ROOT`)"),
    DatasetRecord("shd", "Spiking Heidelberg Digits", (700,), 20, (700, 1, 1), 8156,
                  "zenkelab.org/datasets (shd_train.h5.zip, shd_test.h5.zip; or `pipesdfa data fetch shd --to ROOT`)"),
    DatasetRecord("braille", "Braille letters (12 taxels x ON/OFF)", (24,), 27, (12, 1, 2), 1080,
                  "Zenodo doi:10.5281/zenodo.7050094 (reading_braille_data.zip; or "
                  "`pipesdfa data fetch braille --to ROOT`) or doi:10.5281/zenodo.6556273 (raw)"),
    # the same raw recordings as analog taxel values, the SDFA authors' recipe (data/braille_analog.py):
    # 4 taxels, no events; sensor_size is the raw sensor's 12 taxels
    DatasetRecord("braille-analog", "Braille letters, analog taxels (the SDFA authors' recipe)", (4,), 27, (12, 1, 1),
                  1080, "Zenodo doi:10.5281/zenodo.6556273 (the raw taxel pickle, e.g. "
                  "tutorial5_braille_spiking_data.pkl.gz, in a folder `pipesdfa data info braille` finds)"),
    DatasetRecord("dvsgesture", "DVS128 Gesture", (2, 128, 128), 11, (128, 128, 2), 1176,
                  "research.ibm.com/dvsgesture (DvsGesture.tar.gz, manual download from IBM's box folder)"),
    # raw (x, y) cropped to 240 x 180, halved, centred in a fixed 128 x 128 grid (data.datasets)
    DatasetRecord("ncaltech101", "N-Caltech101", (2, 128, 128), 101, (240, 180, 2), 6967,
                  "Mendeley Data doi:10.17632/cy6cvx3ryv.1 (Caltech101.zip inside N-Caltech101-archive.zip; "
                  "or `pipesdfa data fetch ncaltech101 --to ROOT`)"),
    # 8x8 images + a 2-pixel saccade margin (data/digits.py)
    DatasetRecord("digits", "digits (embedded)", (2, 12, 12), 10, (12, 12, 2), 1437,
                  "embedded (scikit-learn digits + saccade simulation)", embedded=True),
)}


def get_record(name: str) -> DatasetRecord:
    from pipesdfa.util.names import unknown_name

    try:
        return CATALOG[name]
    except KeyError:
        raise unknown_name("dataset", name, CATALOG) from None


def dataset_names() -> list[str]:
    return list(CATALOG)
