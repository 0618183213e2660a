"""The model zoo as data, and the paper's workloads (docs/paper.md section 3).

One description of a model (a :class:`ModelSpec`: an input shape and a tuple of layer
specs) feeds both engines: :mod:`pipesdfa.zoo.models` builds torch modules from it and
:mod:`pipesdfa.hw.mapping` maps the very same layers onto crossbars. Everything either
engine needs to know about a layer's geometry is computed once, by :func:`resolve`.

Layer specs
-----------
* :class:`Conv` -- ``conv kxk (stride, padding) -> [BN] -> spiking neuron -> [maxpool p]``.
* :class:`Dense` -- ``linear -> spiking neuron``. The last Dense layer is the output layer;
  with ``vote > 1`` it has ``num_classes * vote`` neurons whose rates are averaged per class
  (the "voting" readout of the CNN workloads).

A Flatten is implied at the first Dense layer that follows a Conv layer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from pipesdfa.data.catalog import CATALOG
from pipesdfa.util.errors import UserError

__all__ = [
    "Conv",
    "Dense",
    "ModelSpec",
    "ResolvedLayer",
    "resolve",
    "mlp_spec",
    "convnet_spec",
    "vgg11_spec",
    "Workload",
    "WORKLOADS",
    "get_workload",
    "DATASET_SHAPES",
    "EPOCH_SAMPLES",
]


@dataclass(frozen=True)
class Conv:
    """A convolutional block: conv(k x k, stride, padding, no bias) -> BN -> neuron -> maxpool."""

    out_channels: int
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    bn: bool = True
    pool: int = 1  # max-pool kernel = stride; 1 means no pooling


@dataclass(frozen=True)
class Dense:
    """A fully connected block: linear (no bias) -> neuron."""

    out_features: int


LayerSpec = Conv | Dense


@dataclass(frozen=True)
class ModelSpec:
    """A spiking network as data.

    ``input_shape`` is one time step of one sample: ``(C, H, W)`` for event cameras or
    ``(channels,)`` for 1-D inputs (SHD, Braille, flattened frames). ``num_classes * vote``
    must equal the width of the last Dense layer.
    """

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    num_classes: int
    vote: int = 1

    def __post_init__(self) -> None:
        if not self.layers or not isinstance(self.layers[-1], Dense):
            raise UserError(f"model {self.name!r}: the last layer must be Dense")
        out = self.layers[-1].out_features
        if out != self.num_classes * self.vote:
            raise UserError(
                f"model {self.name!r}: output layer has {out} neurons, expected "
                f"num_classes*vote = {self.num_classes}*{self.vote}"
            )
        if any(d <= 0 for d in self.input_shape):
            raise UserError(f"model {self.name!r}: input_shape {self.input_shape} must be positive")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "vote": self.vote,
            "layers": [{"type": type(l).__name__.lower(), **asdict(l)} for l in self.layers],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelSpec":
        layers: list[LayerSpec] = []
        for raw in d["layers"]:
            raw = dict(raw)
            kind = raw.pop("type")
            layers.append(Conv(**raw) if kind == "conv" else Dense(**raw))
        return ModelSpec(d["name"], tuple(d["input_shape"]), tuple(layers), d["num_classes"], d.get("vote", 1))


@dataclass(frozen=True)
class ResolvedLayer:
    """Geometry of one weight layer, per sample and per time step.

    For Dense layers ``in_hw = out_hw = pooled_hw = (1, 1)`` and ``kernel = 1``.
    ``n_out`` is the flattened size of the block's *spike output after pooling* (what the
    next layer reads, and where SDFA injects its projected error); ``n_neurons`` is the
    number of spiking neurons before pooling.
    """

    index: int
    kind: str  # "conv" or "dense"
    in_channels: int  # Dense: in_features
    out_channels: int  # Dense: out_features
    kernel: int
    stride: int
    padding: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]  # neuron grid (after conv, before pool)
    pooled_hw: tuple[int, int]
    bn: bool
    pool: int
    is_output: bool

    @property
    def fan_in(self) -> int:
        """Rows of the weight matrix: ``C_in * k * k`` (conv) or ``in_features`` (dense)."""
        return self.in_channels * self.kernel * self.kernel

    @property
    def weights(self) -> int:
        return self.fan_in * self.out_channels

    @property
    def n_neurons(self) -> int:
        return self.out_channels * self.out_hw[0] * self.out_hw[1]

    @property
    def n_out(self) -> int:
        return self.out_channels * self.pooled_hw[0] * self.pooled_hw[1]

    @property
    def n_in(self) -> int:
        """Flattened input size per sample and time step."""
        return self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def positions(self) -> int:
        """Output positions per time step: MVMs of a ``fan_in``-long input vector."""
        return self.out_hw[0] * self.out_hw[1]

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample and time step (forward)."""
        return self.weights * self.positions


def resolve(spec: ModelSpec) -> list[ResolvedLayer]:
    """Compute every layer's geometry from the input shape.

    Conv output size: ``floor((H + 2p - k) / s) + 1``; max-pool by ``p`` floors ``H / p``.
    Raises :class:`UserError` when a Conv follows a Dense, or a grid shrinks to zero.
    """
    out: list[ResolvedLayer] = []
    shape = spec.input_shape
    if len(shape) == 3:
        c, h, w = shape
    elif len(shape) == 1:
        c, h, w = shape[0], 1, 1
    else:
        raise UserError(f"model {spec.name!r}: input_shape must be (C,H,W) or (N,), got {shape}")
    flat = False
    n = len(spec.layers)
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Conv):
            if flat or len(shape) != 3:
                raise UserError(f"model {spec.name!r}: layer {i} is Conv but its input is flat")
            oh = (h + 2 * layer.padding - layer.kernel) // layer.stride + 1
            ow = (w + 2 * layer.padding - layer.kernel) // layer.stride + 1
            ph, pw = oh // layer.pool, ow // layer.pool
            if min(oh, ow, ph, pw) <= 0:
                raise UserError(f"model {spec.name!r}: layer {i} shrinks the {h}x{w} grid to nothing")
            out.append(
                ResolvedLayer(i, "conv", c, layer.out_channels, layer.kernel, layer.stride, layer.padding,
                              (h, w), (oh, ow), (ph, pw), layer.bn, layer.pool, i == n - 1)
            )
            c, h, w = layer.out_channels, ph, pw
        else:
            in_f = c * h * w
            out.append(
                ResolvedLayer(i, "dense", in_f, layer.out_features, 1, 1, 0, (1, 1), (1, 1), (1, 1),
                              False, 1, i == n - 1)
            )
            c, h, w = layer.out_features, 1, 1
            flat = True
    return out


# ----------------------------------------------------------------------------- model zoo

def mlp_spec(input_shape: Sequence[int], hidden: Sequence[int], num_classes: int, name: str = "mlp") -> ModelSpec:
    """An MLP ``in - hidden[0] - ... - num_classes`` (``len(hidden) + 1`` weight layers)."""
    flat = 1
    for d in input_shape:
        flat *= int(d)
    layers = tuple(Dense(int(h)) for h in hidden) + (Dense(num_classes),)
    return ModelSpec(name, (flat,), layers, num_classes)


def convnet_spec(input_shape: Sequence[int], num_classes: int, vote: int = 10,
                 channels: Sequence[int] = (32, 64, 128, 128, 128), fc: int = 1024) -> ModelSpec:
    """The paper's DVS ConvNet: 5 x [conv3x3-BN-neuron-maxpool2] + FC + FC(classes*vote) + vote."""
    layers: list[LayerSpec] = [Conv(ch, 3, 1, 1, True, 2) for ch in channels]
    layers += [Dense(fc), Dense(num_classes * vote)]
    return ModelSpec("convnet", tuple(input_shape), tuple(layers), num_classes, vote)


#: VGG11 feature config: channels, "M" = max-pool 2 after the previous conv.
VGG11_CFG: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def vgg11_spec(input_shape: Sequence[int], num_classes: int, vote: int = 10, fc: int = 4096) -> ModelSpec:
    """VGG11: 8 conv3x3-BN-neuron blocks with 5 max-pools, FC-fc, FC-fc, FC(classes*vote), vote."""
    layers: list[LayerSpec] = []
    for item in VGG11_CFG:
        if item == "M":
            last = layers[-1]
            assert isinstance(last, Conv)
            layers[-1] = Conv(last.out_channels, last.kernel, last.stride, last.padding, last.bn, 2)
        else:
            layers.append(Conv(int(item), 3, 1, 1, True, 1))
    layers += [Dense(fc), Dense(fc), Dense(num_classes * vote)]
    return ModelSpec("vgg11", tuple(input_shape), tuple(layers), num_classes, vote)


# ------------------------------------------------------------------------------ datasets

#: Nominal per-time-step input shape and class count of each dataset, as framed by
#: :mod:`pipesdfa.data` (the trainer takes the real shape from the data; the hardware
#: simulator, which has no data, uses these). From :mod:`pipesdfa.data.catalog`.
DATASET_SHAPES: dict[str, tuple[tuple[int, ...], int]] = {n: (r.input_shape, r.num_classes) for n, r in CATALOG.items()}

#: Training-split sizes (one epoch) from :mod:`pipesdfa.data.catalog`; the hardware
#: simulator's default ``samples`` is one such epoch.
EPOCH_SAMPLES: dict[str, int] = {n: r.epoch_samples for n, r in CATALOG.items()}


# ----------------------------------------------------------------------------- workloads

@dataclass(frozen=True)
class Workload:
    """One of the paper's training configurations (docs/paper.md section 3).

    ``model`` is ``"mlp"`` (with ``hidden``), ``"convnet"`` or ``"vgg11"``; the input shape
    comes from the dataset. ``paper_bp_acc`` / ``paper_sdfa_acc`` are the paper's reported
    test accuracies in percent (``None`` for our own workloads).
    """

    name: str
    dataset: str
    model: str
    neuron: str  # "lif" or "if"
    T: int
    batch: int
    epochs: int
    lr: float
    loss: str  # "ce" or "mse"
    hidden: tuple[int, ...] = ()
    weight_decay: float = 0.0
    tau: float = 2.0
    init_gain: float = 1.0
    paper_bp_acc: float | None = None
    paper_sdfa_acc: float | None = None
    drop_last: bool = False  # leave out the last, incomplete training batch of every epoch
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def model_spec(self, input_shape: Sequence[int] | None = None, num_classes: int | None = None) -> ModelSpec:
        """The workload's model, for the given (or the dataset's nominal) input shape."""
        nominal_shape, nominal_classes = DATASET_SHAPES[self.dataset]
        shape = tuple(input_shape) if input_shape is not None else nominal_shape
        classes = num_classes if num_classes is not None else nominal_classes
        return build_spec(self.model, shape, classes, self.hidden, name=self.name)


def build_spec(model: str, input_shape: Sequence[int], num_classes: int,
               hidden: Sequence[int] = (), name: str | None = None) -> ModelSpec:
    """Build a :class:`ModelSpec` by model family name."""
    if model == "mlp":
        if not hidden:
            raise UserError("model 'mlp' needs at least one hidden layer width")
        return mlp_spec(input_shape, hidden, num_classes, name=name or "mlp")
    if model == "convnet":
        return convnet_spec(input_shape, num_classes)
    if model == "vgg11":
        return vgg11_spec(input_shape, num_classes)
    raise UserError(f"unknown model {model!r}; expected one of: mlp, convnet, vgg11")


def _nmnist(n_hidden: int, bp: float, sdfa: float) -> Workload:
    return Workload(
        name=f"nmnist-mlp{n_hidden + 1}", dataset="nmnist", model="mlp", neuron="lif", T=10, batch=128,
        epochs=50, lr=1e-2, loss="ce", hidden=(1000,) * n_hidden, paper_bp_acc=bp, paper_sdfa_acc=sdfa,
    )


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        _nmnist(1, 98.52, 97.92),
        _nmnist(2, 98.46, 97.97),
        _nmnist(3, 98.38, 97.95),
        _nmnist(4, 97.87, 97.82),
        Workload("shd-mlp", "shd", "mlp", "if", T=100, batch=64, epochs=100, lr=1e-3, loss="mse",
                 hidden=(100, 100), paper_bp_acc=74.09, paper_sdfa_acc=73.29,
                 notes="100 time bins over 1.4 s"),
        Workload("braille-mlp", "braille", "mlp", "if", T=76, batch=64, epochs=100, lr=1e-3, loss="mse",
                 hidden=(200, 200),
                 notes="sigma-delta events of the raw taxels, 24 inputs (12 taxels x ON/OFF), a harder task "
                       "than the paper's (its 99.62 / 99.26 % are braille-analog-mlp's recipe); 27 classes; "
                       "T = 76 bins of 25 ms = the raw recordings' 1.9 s at 40 Hz (the authors' 51 bins = "
                       "1.275 s cut off a third of our sigma-delta events: BPTT 52 % -> 75 % at 20 epochs, "
                       "seed 0)"),
        Workload("braille-analog-mlp", "braille-analog", "mlp", "if", T=152, batch=64, epochs=100, lr=1e-3,
                 loss="mse", hidden=(200, 200), paper_bp_acc=99.62, paper_sdfa_acc=99.26, drop_last=True,
                 notes="the authors' Braille recipe: 4 analog taxels straight into Linear(4, 200), the "
                       "shortest recording's 76 samples each repeated twice (T = 152), standardised "
                       "(training-split statistics here; the authors' all-samples statistics with "
                       "data option stats=all); 27 classes (the authors' 28th output is never a target); "
                       "the paper reports the best test epoch"),
        Workload("dvs-convnet", "dvsgesture", "convnet", "lif", T=30, batch=8, epochs=200, lr=1e-3,
                 loss="mse", paper_bp_acc=95.14, paper_sdfa_acc=93.75,
                 notes="LIF as in the authors' code (their table says IF)"),
        Workload("dvs-vgg11", "dvsgesture", "vgg11", "if", T=30, batch=8, epochs=300, lr=1e-4, loss="mse",
                 weight_decay=1e-3, paper_bp_acc=88.92, paper_sdfa_acc=92.36),
        Workload("ncaltech-vgg11", "ncaltech101", "vgg11", "if", T=30, batch=4, epochs=200, lr=1e-4,
                 loss="ce", paper_bp_acc=59.53, paper_sdfa_acc=64.38),
        # Our embedded, offline workload (not in the paper): trains on a CPU in seconds.
        Workload("digits-mlp", "digits", "mlp", "lif", T=8, batch=32, epochs=25, lr=2e-3, loss="mse",
                 hidden=(256, 256), init_gain=3.0,
                 notes="embedded scikit-learn digits as saccade events; MSE and init_gain=3 chosen on "
                       "seed 0 (CE on rates in [0,1] gives SDFA a near-constant error signal)"),
    ]
}

#: The nine workloads of the paper's hardware comparison, in the paper's order (its Braille row
#: is ``braille-mlp``; ``braille-analog-mlp`` is the authors' accuracy recipe of the same data).
PAPER_WORKLOADS: tuple[str, ...] = tuple(n for n in WORKLOADS if n not in ("digits-mlp", "braille-analog-mlp"))


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        from pipesdfa.util.names import unknown_name

        raise unknown_name("workload", name, WORKLOADS) from None
