"""TensorFlow: 2 + 3, graph and eager."""


def lesson(tf, dev, session, **run):
    """In a v1 session, then eagerly."""
    g = tf.Graph()
    with g.as_default(), tf.device(dev):
        c = tf.add(2.0, 3.0, name="c")
    with session(g) as s:
        in_graph = s.run(c, **run)
    with tf.device(dev):
        return in_graph, tf.add(2.0, 3.0)


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# TensorFlow 1 built a graph first and ran it in a tf.Session; TensorFlow 2 runs operations
# eagerly and keeps the old style under tf.compat.v1. This sample does both:
#   1. graph mode: constants a = 2 and b = 3 and c = a + b placed in a tf.Graph, run by a
#      tf.compat.v1.Session whose run metadata tells on which device the addition ran;
#   2. eager mode: the same addition executed immediately.
# Both must give 5 and run on the device chosen.
#
# Devices: the first GPU TensorFlow sees (auto), the CPU, or GPU N (cuda:N). GPU memory growth is
# switched on, so TensorFlow takes GPU memory as it needs it instead of all of it at start.
# TF_CPP_MIN_LOG_LEVEL defaults to 2 to hide TensorFlow's informational C++ logging.
#
# Usage: python tensorflow_add.py [--device auto|cpu|cuda[:N]]
# Last stdout line: a JSON verdict. Exit status 0 pass, 1 fail, 2 device missing, 3 no library.

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "tensorflow_add"
LIBRARY = "tensorflow"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N",))
EXPECTED = 5.0


def quiet_session(tf):
    """A v1 session maker that grows GPU memory and does not fold 2 + 3 into a constant, so the
    addition really runs on the chosen device (and run metadata can say which)."""
    v1 = tf.compat.v1
    config = v1.ConfigProto(allow_soft_placement=False)
    config.gpu_options.allow_growth = True
    config.graph_options.optimizer_options.opt_level = v1.OptimizerOptions.L0
    config.graph_options.optimizer_options.do_constant_folding = False
    config.graph_options.rewrite_options.constant_folding = config.graph_options.rewrite_options.OFF
    return lambda graph: v1.Session(graph=graph, config=config)


def run_lesson(tf, tf_device):
    """The lesson, traced: ((graph value, its device), (eager value, its device))."""
    v1 = tf.compat.v1
    metadata = v1.RunMetadata()
    trace = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE)
    in_graph, eager = lesson(tf, tf_device, quiet_session(tf), options=trace, run_metadata=metadata)
    ran_on = "unknown"
    for device_stats in metadata.step_stats.dev_stats:
        if any(node.node_name == "c" for node in device_stats.node_stats):
            ran_on = device_stats.device
    return (float(in_graph), ran_on), (float(eager.numpy()), eager.device)


def main(argv=None):
    """Run the sample; exits through harness.finish()."""
    parser = harness.sample_parser("TensorFlow: 2 + 3 in a v1 session and eagerly.")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as error:
        print("TensorFlow is not installed in %s (%s)" % (sys.executable, error), file=sys.stderr)
        harness.finish(
            "fail",
            "",
            args.device,
            "import tensorflow",
            "TensorFlow not installed",
            harness.EXIT_NO_LIBRARY,
        )

    version = tf.__version__
    print(
        "library: TensorFlow %s (built with CUDA: %s)"
        % (version, "yes" if tf.test.is_built_with_cuda() else "no")
    )
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:  # only possible once the GPU is initialised
            print("could not turn on memory growth for %s: %s" % (gpu.name, error))
    available = ["cpu"] + ["cuda:%d" % index for index in range(len(gpus))]
    print("devices TensorFlow can use: %s" % ", ".join(available))

    if args.device == "auto":
        device = "cuda:0" if gpus else "cpu"
    elif args.device in available:
        device = args.device
    else:
        message = "%s does not exist: TensorFlow sees %d GPU(s)%s; available: %s" % (
            args.device,
            len(gpus),
            "" if tf.test.is_built_with_cuda() else " (this build has no CUDA support)",
            ", ".join(available),
        )
        print(message, file=sys.stderr)
        harness.finish("fail", version, args.device, "device", message, harness.EXIT_NO_DEVICE)
    tf_device = "/device:CPU:0" if device == "cpu" else "/device:GPU:" + device.split(":")[1]
    if device == "cpu":
        print("device: cpu (%s)" % tf_device)
    else:
        details = tf.config.experimental.get_device_details(gpus[int(device.split(":")[1])])
        print(
            "device: %s (%s, %s, memory growth on)"
            % (device, tf_device, details.get("device_name", "GPU"))
        )

    started = time.perf_counter()
    (graph_value, graph_device), (eager_value, eager_device) = run_lesson(tf, tf_device)
    seconds = time.perf_counter() - started
    print("graph mode (tf.compat.v1.Session): 2 + 3 = %g, ran on %s" % (graph_value, graph_device))
    print("eager mode: 2 + 3 = %g, on %s (both: %.2f s)" % (eager_value, eager_device, seconds))

    wanted_suffix = tf_device.replace("/device:", "device:")
    right_values = graph_value == EXPECTED and eager_value == EXPECTED
    right_places = graph_device.endswith(wanted_suffix) and eager_device.endswith(wanted_suffix)
    passed = right_values and right_places
    detail = "graph: %g on %s; eager: %g on %s" % (
        graph_value,
        graph_device.rsplit("/", 1)[-1],
        eager_value,
        eager_device.rsplit("/", 1)[-1],
    )
    harness.finish(
        "pass" if passed else "fail",
        version,
        device,
        "2 + 3 == 5 in a v1 session graph and eagerly, both on %s" % tf_device,
        detail,
        harness.EXIT_PASS if passed else harness.EXIT_FAIL,
        engine="graph+eager",
    )


if __name__ == "__main__":
    harness.run(main)
