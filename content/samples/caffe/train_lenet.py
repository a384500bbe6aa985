"""Train the LeNet that caffe_lenet.py runs, and save it as a real Caffe model.

The weights shipped in lenet.caffemodel come from this script; rerunning it with the same
arguments, on the same library versions, reproduces them byte for byte (fixed seed, one CPU
thread, deterministic algorithms).

Data: scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, values 0..16).
Each image is scaled to 0..1 (ink = 1, paper = 0), enlarged to 20x20 with bilinear
interpolation and centred on a 28x28 canvas with a 4-pixel margin, the way MNIST frames its
digits. A stratified 20% split is held out and never trained on; its accuracy is recorded.

Network: Caffe's LeNet (conv 20@5x5, max-pool 2, conv 50@5x5, max-pool 2, inner product 500,
ReLU, inner product 10, softmax), matching lenet.prototxt. Trained with PyTorch, then written
as a binary Caffe NetParameter by the small protobuf encoder below (no caffe_pb2 needed).

Outputs, in --out (default: this folder):
  lenet.caffemodel    the trained weights
  lenet-training.json seed, epochs, sizes, held-out accuracy, versions, date
  digit-N.png         the first held-out image of each class, as a dark-on-light 28x28 PNG

Usage: python train_lenet.py [--epochs 30] [--seed 0] [--out DIR] [--no-images]
"""

import argparse
import datetime
import json
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
CANVAS = 28
DIGIT_SIZE = 20
HELD_OUT_FRACTION = 0.2


# --- data -------------------------------------------------------------------------------------


def digits_as_canvases():
    """Return (images N x 28 x 28 float32 in 0..1 with ink = 1, labels N int64)."""
    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    enlarged = F.interpolate(
        small, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", align_corners=False
    )
    margin = (CANVAS - DIGIT_SIZE) // 2
    canvases = F.pad(enlarged, (margin, margin, margin, margin)).clamp(0.0, 1.0)
    return canvases.squeeze(1).numpy(), digits.target.astype(np.int64)


# --- model ------------------------------------------------------------------------------------


class LeNet(nn.Module):
    """Caffe's LeNet; layer names match lenet.prototxt."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, kernel_size=5)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.ip1 = nn.Linear(50 * 4 * 4, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x):
        """Return the class scores (before softmax) for a batch N x 1 x 28 x 28."""
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        # Caffe's InnerProduct flattens C x H x W in row-major order, as torch.flatten does.
        x = F.relu(self.ip1(torch.flatten(x, 1)))
        return self.ip2(x)


def shifted(batch, generator, max_shift=2):
    """Move each image by up to `max_shift` pixels each way (the margin is blank, so rolling
    only brings in paper); a cheap augmentation for a data set of 1437 training images."""
    moves = torch.randint(-max_shift, max_shift + 1, (len(batch), 2), generator=generator)
    rolled = [
        torch.roll(batch[i], shifts=(int(moves[i, 0]), int(moves[i, 1])), dims=(1, 2))
        for i in range(len(batch))
    ]
    return torch.stack(rolled)


def train(model, images, labels, epochs, seed, batch_size=64):
    """SGD with momentum and weight decay, as Caffe's LeNet solver uses, on shifted images;
    the learning rate decays linearly to a tenth over the run."""
    optimiser = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.LinearLR(
        optimiser, start_factor=1.0, end_factor=0.1, total_iters=max(1, epochs - 1)
    )
    order_source = torch.Generator().manual_seed(seed)
    inputs = torch.from_numpy(images).unsqueeze(1)
    targets = torch.from_numpy(labels)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(inputs), generator=order_source)
        total_loss = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            batch_inputs = shifted(inputs[batch], order_source)
            loss = F.cross_entropy(model(batch_inputs), targets[batch])
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(batch)
        schedule.step()
        print("epoch %2d/%d  loss %.4f" % (epoch, epochs, total_loss / len(inputs)), flush=True)


def accuracy(model, images, labels):
    """Fraction of images whose highest-scoring class is the label."""
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(images).unsqueeze(1)).argmax(dim=1).numpy()
    return float((predicted == labels).mean())


# --- Caffe's binary format (protobuf wire format) ---------------------------------------------
# Field numbers from caffe.proto:
#   NetParameter:   name = 1 (string), layer = 100 (LayerParameter)
#   LayerParameter: name = 1, type = 2 (strings), blobs = 7 (BlobProto)
#   BlobProto:      shape = 7 (BlobShape), data = 5 (packed float)
#   BlobShape:      dim = 1 (packed int64)

WIRE_VARINT = 0
WIRE_LENGTH_DELIMITED = 2


def encode_varint(value):
    """Protobuf base-128 varint of a non-negative integer."""
    if value < 0:
        raise ValueError("negative varints are not needed here")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def length_delimited(field, payload):
    """A length-delimited field: sub-message, string, bytes or packed repeated scalars."""
    return encode_varint(field << 3 | WIRE_LENGTH_DELIMITED) + encode_varint(len(payload)) + payload


def blob_proto(array):
    """BlobProto with its shape and float32 data."""
    array = np.ascontiguousarray(array, dtype="<f4")
    dims = b"".join(encode_varint(int(d)) for d in array.shape)
    shape = length_delimited(1, dims)
    return length_delimited(7, shape) + length_delimited(5, array.tobytes())


def layer_parameter(name, layer_type, arrays):
    """LayerParameter with a name, a type and its parameter blobs."""
    body = length_delimited(1, name.encode()) + length_delimited(2, layer_type.encode())
    for array in arrays:
        body += length_delimited(7, blob_proto(array))
    return body


def net_parameter(model):
    """The whole trained net as NetParameter bytes (only layers that have weights)."""
    layers = [
        ("conv1", "Convolution", model.conv1),
        ("conv2", "Convolution", model.conv2),
        ("ip1", "InnerProduct", model.ip1),
        ("ip2", "InnerProduct", model.ip2),
    ]
    # torch and Caffe share the layouts: conv (out, in, kh, kw), inner product (out, in).
    body = length_delimited(1, b"LeNet")
    for name, layer_type, module in layers:
        arrays = [module.weight.detach().numpy(), module.bias.detach().numpy()]
        body += length_delimited(100, layer_parameter(name, layer_type, arrays))
    return body


# --- test images ------------------------------------------------------------------------------


def png_grayscale(pixels):
    """Encode a 2-D uint8 array as an 8-bit grayscale PNG (stdlib only)."""
    height, width = pixels.shape

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def write_test_images(out_dir, images, labels):
    """Save the first held-out image of every class as digit-<label>.png, dark ink on white."""
    written = []
    for label in range(10):
        index = int(np.flatnonzero(labels == label)[0])
        # Paper white, ink dark: caffe_lenet.py inverts it back with 1 - pixel / 255.
        pixels = np.round((1.0 - images[index]) * 255.0).astype(np.uint8)
        path = out_dir / ("digit-%d.png" % label)
        path.write_bytes(png_grayscale(pixels))
        written.append(path.name)
    return written


# --- main -------------------------------------------------------------------------------------


def main(argv=None):
    """Train, evaluate, and write the model, the record and the test images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, split and order")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    parser.add_argument("--no-images", action="store_true", help="do not write digit-N.png")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # several threads may sum in a different order run to run
    torch.use_deterministic_algorithms(True)

    images, labels = digits_as_canvases()
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=HELD_OUT_FRACTION, random_state=args.seed, stratify=labels
    )
    model = LeNet()
    started = time.perf_counter()
    train(model, train_images, train_labels, args.epochs, args.seed)
    seconds = time.perf_counter() - started
    held_out_accuracy = accuracy(model, test_images, test_labels)
    print("held-out accuracy: %.4f on %d images" % (held_out_accuracy, len(test_labels)))

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "lenet.caffemodel"
    model_path.write_bytes(net_parameter(model))
    images_written = [] if args.no_images else write_test_images(args.out, test_images, test_labels)
    record = {
        "model": model_path.name,
        "data": "sklearn.datasets.load_digits (8x8 -> 20x20 bilinear, centred on 28x28)",
        "preprocessing": "grayscale 28x28, ink = 1.0, paper = 0.0 (image files: 1 - pixel/255)",
        "seed": args.seed,
        "epochs": args.epochs,
        "train_images": len(train_labels),
        "held_out_images": len(test_labels),
        "held_out_accuracy": round(held_out_accuracy, 4),
        "training_seconds": round(seconds, 1),
        "test_images": images_written,
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "date": datetime.date.today().isoformat(),
    }
    (args.out / "lenet-training.json").write_text(json.dumps(record, indent=2) + "\n")
    print("wrote %s (%d bytes)" % (model_path, model_path.stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
