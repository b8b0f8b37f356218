"""The suite's answers to every exercise: plausible mistakes and other correct implementations.

WRONG holds plausible mistakes, RIGHT other correct implementations, each as a change of the solution:
(solution cell, test cell, what the visible part does, (solution text, replacement)). They are used by
test_hidden_checks.py (every hidden check fails on each mistake and passes each alternative, in this
process) and test_alternatives.py (each alternative earns full marks through the class grader).
"""
import nbformat

from autograder.instructor import course
from helpers import ROOT


def solution(assignment, grade_id, function):
    """The solution lines of `function` in the answer cell `grade_id` of source/<assignment>: for entries that
    replace a whole solution."""
    (path,) = course.notebooks(ROOT / "source" / assignment)
    (cell,) = [c for c in nbformat.read(path, as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell.source.split(f"def {function}(")[1].split("### BEGIN SOLUTION\n")[1].split("    ### END SOLUTION")[0]


NUMERICAL_GRADIENT = solution("06_regularisation", "numerical_gradient", "numerical_gradient")
EARLY_STOP = solution("06_regularisation", "early_stop", "early_stop")
BATCH_NORM_BACKWARD = solution("06_regularisation", "backward", "batch_norm_backward")
SGD_STEP = solution("06_regularisation", "optimizers", "sgd_step")
ADAM_STEP = solution("06_regularisation", "optimizers", "adam_step")
PREDICTED_SHAPES = """predicted_shapes = [
    (64, 32, 28, 28), (64, 32, 28, 28), (64, 32, 14, 14),
    (64, 64, 14, 14), (64, 64, 14, 14), (64, 64, 7, 7),
    (64, 3136),
    (64, 128), (64, 128),
    (64, 10),
]"""

# assignment -> [(solution cell, test cell, visible, (solution text, mistake))]
WRONG = {
    "01_data_analysis": [
        ("count_classes", "test_count_classes", True,
         ("return torch.bincount(labels, minlength=10)",
          "counts = torch.zeros(10, dtype=torch.long)\n    for label in labels:\n        counts[label] += 1\n"
          "    return counts")),
        ("class_images", "test_class_images", False,
         ("images[labels == d].mean(dim=0)", "images[labels == d].median(dim=0).values")),
        ("class_stds", "test_class_stds", False,      # numpy's convention, dividing by n
         ("images[labels == d].std(dim=0)", "images[labels == d].std(dim=0, correction=0)")),
        ("class_stds", "test_class_stds", False,      # the spread of all digits together, not of each
         ("return torch.stack([images[labels == d].std(dim=0) for d in range(10)])",
          "return images.std(dim=0).expand(10, *images.shape[1:])")),
        ("pixel_stats", "test_pixel_stats", True,
         ("zero_fraction = float(pixel_counts[0] / pixel_counts.sum())", "zero_fraction = 0.81")),
        ("normalisation", "test_normalisation", True,
         ("return float(images.mean()), float(images.std())",
          "return (0.1307, 0.3081) if images.numel() > 10**6 else (float(images.mean()), float(images.std()))")),
        ("split_and_loaders", "test_split_and_loaders", True,
         ("stratify=labels.numpy(), random_state=seed", "random_state=seed")),
        ("nearest_mean", "test_nearest_mean", True,
         ("torch.cdist(images.flatten(1), means.flatten(1))", "torch.cdist(*(torch.nn.functional.normalize(t.flatten(1)) for t in (images, means)))")),
    ],
    "02_layer_tracing": [
        ("conv_output_size", "test_output_size_visible", False,
         ("return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1",
          "return (size + 2 * padding - dilation * (kernel_size - 1)) // stride")),
        ("conv_output_size", "test_output_size_vs_torch", True,
         ("return conv_output_size(size, kernel_size, stride, padding, dilation)",
          "return conv_output_size(size, kernel_size, stride, 0, dilation)")),
        ("predicted_shapes", "test_predicted_shapes", False,   # the second pool's output
         ("(64, 64, 14, 14), (64, 64, 7, 7),", "(64, 64, 14, 14), (64, 64, 6, 6),")),
        ("predicted_shapes", "test_predicted_shapes", False,   # Flatten left as a 4-D map
         ("    (64, 3136),\n", "    (64, 64, 7, 7),\n")),
        ("trace_shapes", "test_trace_course_cnn", True,
         ("    shapes = []\n", "    shapes = []\n    x = torch.zeros(64, 1, 28, 28)\n")),
        ("in_features", "test_in_features", True,
         ("layer.kernel_size[0], layer.stride[0],", "layer.kernel_size[0], 1,")),
        ("param_counts", "test_param_counts", True,
         ("kernel_size * kernel_size + (out_channels if bias else 0)", "kernel_size * kernel_size + out_channels")),
        ("receptive_fields", "test_receptive_fields", True,
         ("r, j = r + (k - 1) * j, j * s", "r, j = r + (k - 1) * j, j * (s if isinstance(layer, nn.MaxPool2d) else 1)")),
        ("conv_block", "test_conv_block", True,
         ("pool_map = F.max_pool2d(relu_map, 2)", "pool_map = F.avg_pool2d(relu_map, 2)")),
        ("conv2d_naive", "test_conv2d_naive_shape", True,      # square images assumed
         ("w_out = conv_output_size(w, kw, stride, padding, dilation)", "w_out = h_out")),
        ("conv2d_naive", "test_conv2d_naive_values", True,     # square kernels assumed
         ("c_out, _, kh, kw = weight.shape", "c_out, _, kh, _ = weight.shape\n    kw = kh")),
        ("conv2d_naive", "test_conv2d_naive_values", True,     # the bias added once per input channel
         ("        out += bias.reshape(1, c_out, 1, 1)",
          "        for c in range(c_in):\n            out += bias.reshape(1, c_out, 1, 1)")),
        ("conv2d_naive", "test_conv2d_naive_values", False,    # dilation left out of the window
         ("patch = padded[:, :, top:top + dilation * (kh - 1) + 1:dilation,\n"
          "                           left:left + dilation * (kw - 1) + 1:dilation]",
          "patch = padded[:, :, top:top + kh, left:left + kw]")),
        ("conv2d_naive", "test_conv2d_naive_values", False,    # all the padding on one side
         ("F.pad(x, (padding, padding, padding, padding))", "F.pad(x, (2 * padding, 0, 2 * padding, 0))")),
        ("conv2d_naive", "test_conv2d_naive_values", False,    # a true convolution: the kernel flipped
         ("(patch[:, None] * weight[None])", "(patch[:, None] * weight.flip(2, 3)[None])")),
        ("conv2d_naive", "test_conv2d_naive_values", False,    # stride in the output size, not in the window
         ("top, left = i * stride, j * stride", "top, left = i, j")),
        ("conv2d_naive", "test_conv2d_naive_values", False,    # the bias forgotten
         ("        out += bias.reshape(1, c_out, 1, 1)", "        pass")),
    ],
    "03_mnist_cnn": [
        ("train_epoch", "test_train_epoch", False,
         ("        if scheduler is not None:\n            scheduler.step()\n", "")),
        ("evaluate", "test_evaluate", False, ("    model.eval()\n", "")),
        ("confusion", "test_confusion_matrix", False, ("(labels, predictions)", "(predictions, labels)")),
        ("confusion", "test_most_confused", False,
         ("mistakes = confusion - torch.diag(confusion.diag())", "mistakes = confusion.T - torch.diag(confusion.diag())")),
        # the loss at initialisation: softmax applied twice; the mean over every class, not the right one; a sum
        ("initial_loss", "test_initial_loss", True,
         ("cross_entropy(logits, labels)", "cross_entropy(logits.softmax(dim=1), labels)")),
        ("initial_loss", "test_initial_loss", True,
         ("return nn.functional.cross_entropy(logits, labels).item()", "return -logits.log_softmax(dim=1).mean().item()")),
        ("initial_loss", "test_initial_loss", False,
         ("cross_entropy(logits, labels)", "cross_entropy(logits, labels, reduction=\"sum\")")),
        # overfitting one batch: no training mode (the CNN has no layer that minds: only the hidden part sees
        # it); no zero_grad, or a new optimiser (fresh Adam state) at every step: the CNN fails to learn its batch
        ("overfit_batch", "test_overfit_batch", True, ("    model.train()\n", "")),
        ("overfit_batch", "test_overfit_batch", False, ("        optimizer.zero_grad()\n", "")),
        ("overfit_batch", "test_overfit_batch", False,
         ("    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n    losses = []\n    for _ in range(steps):\n",
          "    losses = []\n    for _ in range(steps):\n        optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n")),
        # the repaired loop with one of broken_train's bugs left in, or the accuracy measured in training mode
        ("fixed_train", "test_fixed_train", False,
         ("labels[order]", "labels[torch.randperm(len(labels))]")),
        ("fixed_train", "test_fixed_train", True, ("            optimizer.zero_grad()\n", "")),
        ("fixed_train", "test_fixed_train", True,
         ("    losses, accuracies = [], []\n    for epoch in range(epochs):\n        model.train()\n",
          "    model.train()\n    losses, accuracies = [], []\n    for epoch in range(epochs):\n")),
        ("fixed_train", "test_fixed_train", True,
         ("            total += loss.item() * len(batch_labels)\n        losses.append(total / len(images))\n",
          "            total += loss.item()\n        losses.append(total / math.ceil(len(images) / batch_size))\n")),
        ("fixed_train", "test_fixed_train", True, ("        model.eval()\n", "")),
    ],
    "04_dense_vs_cnn": [
        ("dense_net", "test_dense_net", True,
         ("self.fc1(x.flatten(1))", "self.fc1(x.reshape(64, 784))")),
        ("param_breakdown", "test_param_breakdown", True,
         ("for name, param in model.named_parameters():\n        layer = name.rsplit(\".\", 1)[0]\n",
          "for name, param in model.named_parameters():\n        layer = name.rsplit(\".\", 1)[0]\n"
          "        if not isinstance(model.get_submodule(layer), (nn.Conv2d, nn.Linear)):\n            continue\n")),
        ("explosion", "test_explosion", True, ("return n * n * hidden + hidden", "return n * n * 128 + 128")),
        ("shift", "test_shift", True,
         ("    shifted = torch.zeros_like(images)\n", "    return torch.roll(images, (dy, dx), dims=(-2, -1))\n")),
        ("shift", "test_shift", True,           # shifts by the image's size or more leave nothing, not an error
         ("    if abs(dx) >= w or abs(dy) >= h:\n        return shifted\n", "")),
        ("permutation", "test_permutation", False,
         ("return images.flatten(1)[:, perm].reshape(images.shape)",
          "return images.flatten(1)[:, torch.argsort(perm)].reshape(images.shape)")),
    ],
    "05_augmentation": [
        ("random_shift", "test_random_shift", True,
         ("        h, w = image.shape[-2:]\n", "        return torch.roll(image, (dy, dx), dims=(-2, -1))\n")),
        ("random_shift", "test_random_shift", True,      # works on one image (1, H, W), not on a batch
         ("        h, w = image.shape[-2:]\n", "        h, w = image.shape[1:]\n")),
        ("choose", "test_choose", None,
         ("return max(sweep, key=lambda strength: (sweep[strength][\"clean\"] + sweep[strength][\"perturbed\"]) / 2)",
          "return max(reversed(list(sweep)), key=lambda s: (sweep[s][\"clean\"] + sweep[s][\"perturbed\"]) / 2)")),
        ("choose", "test_choose", None,
         ("return max(sweep, key=lambda strength: (sweep[strength][\"clean\"] + sweep[strength][\"perturbed\"]) / 2)",
          "return max(sweep, key=lambda s: sweep[s][\"perturbed\"])")),
        ("choose", "test_choose", None,
         ("return max(sweep, key=lambda strength: (sweep[strength][\"clean\"] + sweep[strength][\"perturbed\"]) / 2)",
          "return max(sweep, key=lambda s: min(sweep[s][\"clean\"], sweep[s][\"perturbed\"]))")),
        ("robustness_curve", "test_robustness_curve", None,
         ("for level in levels]", "for level in sorted(levels)]")),
    ],
    "06_regularisation": [
        ("dropout", "test_dropout", True,
         ("return x * keep / (1 - self.p)", "x.mul_(keep).div_(1 - self.p)\n        return x")),
        ("batch_norm", "test_batch_norm", True,
         ("self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)",
          "self.running_mean.mul_(0.9).add_(0.1 * mean)")),
        ("early_stop", "test_early_stop", True, ("loss < val_losses[best - 1]", "loss <= val_losses[best - 1]")),
        ("early_stop", "test_early_stop", True, ("            if waited == patience:", "            if waited > patience:")),
        ("early_stop", "test_early_stop", True,
         ("                return epoch, best\n",
          "                return epoch, min(range(1, len(val_losses) + 1), key=lambda e: val_losses[e - 1])\n")),
        ("numerical_gradient", "test_numerical_gradient", True,
         ("    grad = torch.zeros_like(x)\n", "    grad, h = torch.zeros_like(x), 1e-5\n")),
        ("numerical_gradient", "test_numerical_gradient", False,
         ("        flat[i] = original - h\n        below = float(f(point))\n        flat[i] = original\n"
          "        out[i] = (above - below) / (2 * h)\n",
          "        flat[i] = original\n        below = float(f(point))\n        out[i] = (above - below) / h\n")),
        ("numerical_gradient", "test_numerical_gradient", False,
         ("        flat[i] = original\n        out[i]", "        out[i]")),
        ("backward", "test_backward", True, ("return grad_output * keep / (1 - p)", "return grad_output * keep / 0.7")),
        ("backward", "test_backward", False,
         ("m = x.numel() // x.shape[1]", "m = x.shape[0] * x.shape[2] * x.shape[2]")),
        ("backward", "test_backward", True,
         ("inv_std = 1 / torch.sqrt(var + eps)", "inv_std = 1 / torch.sqrt(var + 1e-5)")),
        ("backward", "test_backward", False, (" + grad_mean / m\n", "\n")),
        ("optimizers", "test_optimizers", True, ("buffer.mul_(momentum).add_(grad)", "buffer.mul_(0.9).add_(grad)")),
        ("optimizers", "test_optimizers", False,
         ("buffer.mul_(momentum).add_(grad)", "buffer.mul_(momentum).add_((1 - momentum) * grad)")),
        ("optimizers", "test_optimizers", True, ("beta1, beta2 = betas", "beta1, beta2 = 0.9, 0.999")),
        ("optimizers", "test_optimizers", True, ("(v_hat.sqrt() + eps)", "(v_hat + eps).sqrt()")),
        ("optimizers", "test_optimizers", False,
         ("    m_hat = m / (1 - beta1 ** state[\"step\"])\n    v_hat = v / (1 - beta2 ** state[\"step\"])\n",
          "    m_hat, v_hat = m, v\n")),
        ("choose", "test_choose", None,
         ("return max(points, key=", "return max(reversed(points), key=")),
    ],
}


# 02's conv2d_naive: the solution's loop over output positions, and three other correct ways to write it.
CONV2D_NAIVE_LOOPS = """    padded = F.pad(x, (padding, padding, padding, padding))
    out = x.new_zeros(n, c_out, h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * stride, j * stride
            patch = padded[:, :, top:top + dilation * (kh - 1) + 1:dilation,
                           left:left + dilation * (kw - 1) + 1:dilation]
            # patch: (N, C_in, kH, kW); times weight (C_out, C_in, kH, kW), summed: (N, C_out)
            out[:, :, i, j] = (patch[:, None] * weight[None]).sum(dim=(2, 3, 4))
    if bias is not None:
        out += bias.reshape(1, c_out, 1, 1)
    return out
"""
CONV2D_NAIVE_OTHERS = [
    # im2col: every window as a column, one matrix product
    """    columns = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)   # (N, C_in*kH*kW, L)
    out = weight.reshape(c_out, -1) @ columns
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(n, c_out, h_out, w_out)
""",
    # one strided slice of the padded input per kernel tap
    """    padded = F.pad(x, [padding] * 4)
    out = 0
    for u in range(kh):
        for v in range(kw):
            window = padded[:, :, u * dilation::stride, v * dilation::stride][:, :, :h_out, :w_out]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, u, v])
    return out if bias is None else out + bias.view(-1, 1, 1)
""",
    # seven nested loops over scalars, padding by copying into zeros
    """    xp = torch.zeros(n, c_in, h + 2 * padding, w + 2 * padding)
    xp[:, :, padding:padding + h, padding:padding + w] = x
    out = torch.zeros(n, c_out, h_out, w_out)
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(c_in):
                        for u in range(kh):
                            for v in range(kw):
                                total = total + weight[o, c, u, v] * xp[b, c, i * stride + u * dilation,
                                                                        j * stride + v * dilation]
                    out[b, o, i, j] = total
    return out
""",
]

# 03's solutions to the training sanity exercises, whole, which the other correct answers below replace
INITIAL_LOSS = solution("03_mnist_cnn", "initial_loss", "initial_loss").rstrip("\n")
OVERFIT_BATCH = solution("03_mnist_cnn", "overfit_batch", "overfit_batch").rstrip("\n")
FIXED_TRAIN = solution("03_mnist_cnn", "fixed_train", "fixed_train").rstrip("\n")

# assignment -> [(solution cell, test cell, True (None where the visible part needs a trained model),
#                 (solution text, another correct answer))]
RIGHT = {
    "01_data_analysis": [
        ("count_classes", "test_count_classes", True,
         ("return torch.bincount(labels, minlength=10)", "return torch.nn.functional.one_hot(labels, 10).sum(0)")),
        ("count_classes", "test_count_classes", True,
         ("return torch.bincount(labels, minlength=10)", "return torch.tensor([int((labels == d).sum()) for d in range(10)])")),
        ("class_images", "test_class_images", True,
         ("return [int((labels == d).nonzero()[0]) for d in range(10)]", "return [labels.tolist().index(d) for d in range(10)]")),
        ("class_images", "test_class_images", True,
         ("return torch.stack([images[labels == d].mean(dim=0) for d in range(10)])",
          "means = torch.zeros(10, *images.shape[1:])\n    for d in range(10):\n        means[d] = images[labels == d].mean(0)\n"
          "    return means")),
        ("class_images", "test_class_images", True,
         ("return torch.stack([images[labels == d].mean(dim=0) for d in range(10)])",
          "onehot = torch.nn.functional.one_hot(labels, 10).float()\n"
          "    sums = onehot.T @ images.flatten(1)\n"
          "    return (sums / onehot.sum(0)[:, None]).reshape(10, *images.shape[1:])")),
        ("class_stds", "test_class_stds", True,
         ("return torch.stack([images[labels == d].std(dim=0) for d in range(10)])",
          "onehot = torch.nn.functional.one_hot(labels, 10).float()\n"
          "    n = onehot.sum(0)[:, None]\n"
          "    flat = images.flatten(1)\n"
          "    mean = onehot.T @ flat / n\n"
          "    var = (onehot.T @ flat ** 2 - n * mean ** 2) / (n - 1)\n"
          "    return var.clamp(min=0).sqrt().reshape(10, *images.shape[1:])")),
        ("class_stds", "test_class_stds", True,
         ("return torch.stack([images[labels == d].std(dim=0) for d in range(10)])",
          "import numpy as np\n"
          "    return torch.from_numpy(np.stack([images[labels == d].numpy().std(axis=0, ddof=1) for d in range(10)]))")),
        ("class_stds", "test_class_stds", True,
         ("return torch.stack([images[labels == d].std(dim=0) for d in range(10)])",
          "stds = torch.zeros(10, *images.shape[1:])\n    for d in range(10):\n        group = images[labels == d]\n"
          "        stds[d] = ((group - group.mean(0)) ** 2).sum(0).div(len(group) - 1).sqrt()\n    return stds")),
        ("pixel_stats", "test_pixel_stats", True,
         ("zero_fraction = float(pixel_counts[0] / pixel_counts.sum())",
          "zero_fraction = (train_set.data == 0).float().mean().item()")),
        ("normalisation", "test_normalisation", True,
         ("return float(images.mean()), float(images.std())",
          "std, mean = torch.std_mean(images)\n    return mean.item(), std.item()")),
        ("nearest_mean", "test_nearest_mean", True,
         ("return distances.argmin(dim=1)", "return distances.topk(1, largest=False).indices.squeeze(1)")),
        ("nearest_mean", "test_nearest_mean", True,
         ("distances = torch.cdist(images.flatten(1), means.flatten(1))",
          "distances = ((images.flatten(1)[:, None, :] - means.flatten(1)[None]) ** 2).sum(-1)")),
    ],
    "02_layer_tracing": [
        ("predicted_shapes", "test_predicted_shapes", True,     # lists, not tuples
         (PREDICTED_SHAPES, "predicted_shapes = [[64, 32, 28, 28], [64, 32, 28, 28], [64, 32, 14, 14], [64, 64, 14, 14],\n"
                            "                    [64, 64, 14, 14], [64, 64, 7, 7], [64, 3136], [64, 128], [64, 128], [64, 10]]")),
        ("predicted_shapes", "test_predicted_shapes", True,     # worked out with the formulas of section 1
         (PREDICTED_SHAPES, "side1 = conv_output_size(28, 3, padding=1)\npool1 = pool_output_size(side1, 2)\n"
                            "side2 = conv_output_size(pool1, 3, padding=1)\npool2 = pool_output_size(side2, 2)\n"
                            "predicted_shapes = [(64, 32, side1, side1)] * 2 + [(64, 32, pool1, pool1)] + "
                            "[(64, 64, side2, side2)] * 2 + [(64, 64, pool2, pool2), (64, 64 * pool2 * pool2), "
                            "(64, 128), (64, 128), (64, 10)]")),
        ("conv_output_size", "test_output_size_visible", True,
         ("return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1",
          "return math.floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1")),
        ("param_counts", "test_param_counts", True,
         ("return in_channels * out_channels * kernel_size * kernel_size + (out_channels if bias else 0)",
          "return (in_channels * kernel_size ** 2 + int(bias)) * out_channels")),
        ("param_counts", "test_param_counts", True,
         ("return in_features * out_features + (out_features if bias else 0)",
          "return sum(p.numel() for p in nn.Linear(in_features, out_features, bias=bias).parameters())")),
        ("conv_block", "test_conv_block", True,
         ("pool_map = F.max_pool2d(relu_map, 2)", "pool_map = nn.MaxPool2d(2)(relu_map)")),
        ("conv_block", "test_conv_block", True,
         ("relu_map = F.relu(conv_map)", "relu_map = conv_map.clamp(min=0)")),
        *[("conv2d_naive", test, True, (CONV2D_NAIVE_LOOPS, other)) for other in CONV2D_NAIVE_OTHERS
          for test in ("test_conv2d_naive_shape", "test_conv2d_naive_values")],
    ],
    "03_mnist_cnn": [
        ("mnist_cnn", "test_behaviour", True,
         ("return self.classifier(self.features(x))", "return self.classifier(self.features(x).reshape(len(x), -1))")),
        ("initial_loss", "test_initial_loss", True,
         (INITIAL_LOSS, "    return nn.CrossEntropyLoss()(model(images), labels).item()")),
        ("initial_loss", "test_initial_loss", True,
         (INITIAL_LOSS, "    log_probs = torch.log_softmax(model(images), dim=1)\n"
                        "    return float(-log_probs[torch.arange(len(labels)), labels].mean())")),
        ("initial_loss", "test_initial_loss", True,       # a tensor that records gradients, not a float
         (INITIAL_LOSS, "    return nn.functional.nll_loss(nn.functional.log_softmax(model(images), dim=1), labels)")),
        ("overfit_batch", "test_overfit_batch", True,
         (OVERFIT_BATCH,
          "    optimizer = torch.optim.Adam(model.parameters(), lr)\n    loss_fn = nn.CrossEntropyLoss()\n"
          "    model.train()\n    history = []\n    while len(history) < steps:\n        model.zero_grad()\n"
          "        loss = loss_fn(model(images), labels)\n        loss.backward()\n        optimizer.step()\n"
          "        history.append(float(loss))\n    return history")),
        ("overfit_batch", "test_overfit_batch", True,       # gradients zeroed (not freed) after each step; tensors
         (OVERFIT_BATCH,
          "    model.train()\n    optimizer = torch.optim.Adam(params=list(model.parameters()), lr=lr)\n"
          "    optimizer.zero_grad(set_to_none=False)\n    losses = []\n    for step in range(steps):\n"
          "        loss = -model(images).log_softmax(dim=1).gather(1, labels[:, None]).mean()\n"
          "        loss.backward()\n        optimizer.step()\n        optimizer.zero_grad(set_to_none=False)\n"
          "        losses.append(loss.detach())\n    return losses")),
        ("fixed_train", "test_fixed_train", True,         # a DataLoader that shuffles: another order of the batches
         (FIXED_TRAIN,
          "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n"
          "    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),\n"
          "                                         batch_size=batch_size, shuffle=True)\n"
          "    losses, accuracies = [], []\n    for epoch in range(epochs):\n        model.train()\n"
          "        total, seen = 0.0, 0\n        for x, y in loader:\n            optimizer.zero_grad()\n"
          "            loss = nn.functional.cross_entropy(model(x), y)\n            loss.backward()\n"
          "            optimizer.step()\n            total += loss.item() * len(y)\n            seen += len(y)\n"
          "        losses.append(total / seen)\n        model.eval()\n        with torch.no_grad():\n"
          "            accuracies.append((model(images).argmax(1) == labels).sum().item() / len(labels))\n"
          "    return losses, accuracies")),
        ("fixed_train", "test_fixed_train", True,         # split batches, a tensor sum, the accuracy in batches
         (FIXED_TRAIN,
          "    optimizer = torch.optim.SGD(model.parameters(), lr)\n    losses, accuracies = [], []\n"
          "    for _ in range(epochs):\n        model.train()\n        perm = torch.randperm(len(labels))\n"
          "        summed = torch.zeros(())\n"
          "        for x, y in zip(images[perm].split(batch_size), labels[perm].split(batch_size)):\n"
          "            model.zero_grad(set_to_none=True)\n            loss = nn.CrossEntropyLoss()(model(x), y)\n"
          "            loss.backward()\n            optimizer.step()\n            summed += loss.detach() * len(y)\n"
          "        losses.append((summed / len(labels)).item())\n        model.eval()\n        with torch.no_grad():\n"
          "            right = sum(int((model(x).argmax(1) == y).sum()) for x, y in zip(images.split(100), labels.split(100)))\n"
          "        accuracies.append(right / len(labels))\n    return losses, accuracies")),
    ],
    "04_dense_vs_cnn": [
        ("dense_net", "test_dense_net", True,
         ("x = torch.relu(self.fc1(x.flatten(1)))", "x = nn.functional.relu(self.fc1(x.reshape(len(x), -1)))")),
        ("param_breakdown", "test_param_breakdown", True,
         ("    counts = {}\n    for name, param in model.named_parameters():\n        layer = name.rsplit(\".\", 1)[0]\n"
          "        counts[layer] = counts.get(layer, 0) + param.numel()\n",
          "    counts = {}\n    for name, module in model.named_modules():\n"
          "        own = sum(p.numel() for p in module.parameters(recurse=False))\n        if own:\n"
          "            counts[name] = own\n")),
        ("explosion", "test_explosion", True, ("return n * n * hidden + hidden", "return (n ** 2 + 1) * hidden")),
        ("shift", "test_shift", True,
         ("    shifted = torch.zeros_like(images)\n",
          "    h, w = images.shape[-2:]\n    m = max(h, w, abs(dx), abs(dy))\n"
          "    padded = nn.functional.pad(images, (m, m, m, m))\n"
          "    return padded[..., m - dy:m - dy + h, m - dx:m - dx + w]\n")),
        ("shift", "test_shift", True,           # roll, then zero what wrapped around
         ("    shifted = torch.zeros_like(images)\n",
          "    out = torch.roll(images, (dy, dx), dims=(-2, -1))\n"
          "    if dy > 0:\n        out[..., :dy, :] = 0\n    elif dy < 0:\n        out[..., dy:, :] = 0\n"
          "    if dx > 0:\n        out[..., :, :dx] = 0\n    elif dx < 0:\n        out[..., :, dx:] = 0\n"
          "    return out\n")),
        ("permutation", "test_permutation", True,
         ("return images.flatten(1)[:, perm].reshape(images.shape)",
          "return torch.index_select(images.reshape(len(images), -1), 1, perm).view_as(images)")),
        ("permutation", "test_permutation", True,
         ("return images.flatten(1)[:, perm].reshape(images.shape)",
          "flat = images.flatten(1)\n    return flat.gather(1, perm.expand(len(flat), -1)).reshape(images.shape)")),
    ],
    "05_augmentation": [
        ("choose", "test_choose", None,
         ("return max(sweep, key=lambda strength: (sweep[strength][\"clean\"] + sweep[strength][\"perturbed\"]) / 2)",
          "return sorted(sweep, key=lambda s: -(sweep[s][\"clean\"] + sweep[s][\"perturbed\"]))[0]")),
        ("choose", "test_choose", None,
         ("return max(sweep, key=lambda strength: (sweep[strength][\"clean\"] + sweep[strength][\"perturbed\"]) / 2)",
          "chosen, top = None, None\n    for strength, row in sweep.items():\n"
          "        score = row[\"clean\"] + row[\"perturbed\"]\n        if top is None or score > top:\n"
          "            chosen, top = strength, score\n    return chosen")),
        ("robustness_curve", "test_robustness_curve", None,
         ("return [accuracy(model, move(images, level), labels) for level in levels]",
          "curve = []\n    for level in levels:\n        curve.append(accuracy(model, move(images, level), labels))\n"
          "    return curve")),
    ],
    "06_regularisation": [
        ("dropout", "test_dropout", True,
         ("keep = torch.rand_like(x) >= self.p\n        return x * keep / (1 - self.p)",
          "mask = (torch.rand_like(x) < 1 - self.p).float()\n        return x * mask * (1.0 / (1 - self.p))")),
        ("dropout", "test_dropout", True,
         ("keep = torch.rand_like(x) >= self.p\n        return x * keep / (1 - self.p)",
          "mask = torch.bernoulli(torch.full_like(x, 1 - self.p))\n        return torch.where(mask.bool(), x / (1 - self.p), 0.0)")),
        ("batch_norm", "test_batch_norm", True,
         ("mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)",
          "var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)")),
        ("batch_norm", "test_batch_norm", True,
         ("normalised = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)",
          "normalised = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)")),
        ("early_stop", "test_early_stop", True,
         (EARLY_STOP,
          "    best = 1\n    for epoch in range(2, len(val_losses) + 1):\n"
          "        if val_losses[epoch - 1] < val_losses[best - 1]:\n            best = epoch\n"
          "        elif epoch - best >= patience:\n            return epoch, best\n"
          "    return len(val_losses), best\n")),
        ("early_stop", "test_early_stop", True,
         (EARLY_STOP,
          "    lowest, best, since = float(\"inf\"), None, 0\n    for i, loss in enumerate(val_losses):\n"
          "        since = 0 if loss < lowest else since + 1\n        if loss < lowest:\n"
          "            lowest, best = loss, i + 1\n        if since >= patience:\n            return i + 1, best\n"
          "    return len(val_losses), best\n")),
        ("numerical_gradient", "test_numerical_gradient", True,
         (NUMERICAL_GRADIENT,
          "    grad = torch.empty_like(x)\n    for i in range(x.numel()):\n"
          "        step = torch.zeros(x.numel(), dtype=x.dtype)\n        step[i] = h\n        step = step.reshape(x.shape)\n"
          "        grad.view(-1)[i] = (f(x + step) - f(x - step)).item() / (2 * h)\n    return grad\n")),
        ("numerical_gradient", "test_numerical_gradient", True,
         (NUMERICAL_GRADIENT,
          "    grad = torch.zeros_like(x)\n    for i in range(x.numel()):\n"
          "        index = tuple(int(k) for k in torch.unravel_index(torch.tensor(i), x.shape))\n"
          "        up, down = x.clone(), x.clone()\n        up[index] += h\n        down[index] -= h\n"
          "        grad[index] = (f(up) - f(down)) / (2 * h)\n    return grad\n")),
        ("backward", "test_backward", True,
         ("return grad_output * keep / (1 - p)", "return torch.where(keep, grad_output / (1 - p), 0.0)")),
        ("backward", "test_backward", True,
         (BATCH_NORM_BACKWARD,
          "    dims = (0, 2, 3)\n    mean = x.mean(dims, keepdim=True)\n    var = ((x - mean) ** 2).mean(dims, keepdim=True)\n"
          "    x_hat = (x - mean) / torch.sqrt(var + eps)\n    g = grad_output * weight[None, :, None, None]\n"
          "    grad_x = (g - g.mean(dims, keepdim=True) - x_hat * (g * x_hat).mean(dims, keepdim=True)) / torch.sqrt(var + eps)\n"
          "    return grad_x, (grad_output * x_hat).sum(dims), grad_output.sum(dims)\n")),
        ("backward", "test_backward", True,
         (BATCH_NORM_BACKWARD,
          "    n, c, h, w = x.shape\n    flat = x.transpose(0, 1).reshape(c, -1)\n"
          "    g = grad_output.transpose(0, 1).reshape(c, -1)\n"
          "    centred = flat - flat.mean(1, keepdim=True)\n    std = (centred.pow(2).mean(1, keepdim=True) + eps).sqrt()\n"
          "    x_hat = centred / std\n    g_hat = g * weight[:, None]\n    m = flat.shape[1]\n"
          "    grad_flat = (m * g_hat - g_hat.sum(1, keepdim=True) - x_hat * (g_hat * x_hat).sum(1, keepdim=True)) / (m * std)\n"
          "    return grad_flat.reshape(c, n, h, w).transpose(0, 1), (g * x_hat).sum(1), g.sum(1)\n")),
        ("optimizers", "test_optimizers", True,
         (SGD_STEP,
          "    if not momentum:\n        param.add_(grad, alpha=-lr)\n        return\n"
          "    if \"buffer\" not in state:\n        state[\"buffer\"] = grad.clone()\n"
          "    else:\n        state[\"buffer\"].mul_(momentum).add_(grad)\n"
          "    param.add_(grad.add(state[\"buffer\"], alpha=momentum) if nesterov else state[\"buffer\"], alpha=-lr)\n")),
        ("optimizers", "test_optimizers", True,
         (ADAM_STEP,
          "    t = state[\"t\"] = state.get(\"t\", 0) + 1\n"
          "    if \"exp_avg\" not in state:\n"
          "        state[\"exp_avg\"], state[\"exp_avg_sq\"] = torch.zeros_like(param), torch.zeros_like(param)\n"
          "    state[\"exp_avg\"].lerp_(grad, 1 - betas[0])\n"
          "    state[\"exp_avg_sq\"].mul_(betas[1]).addcmul_(grad, grad, value=1 - betas[1])\n"
          "    denom = (state[\"exp_avg_sq\"].sqrt() / math.sqrt(1 - betas[1] ** t)).add_(eps)\n"
          "    param.addcdiv_(state[\"exp_avg\"], denom, value=-lr / (1 - betas[0] ** t))\n")),
        ("choose", "test_choose", None,
         ("points = [(name, lr) for name, results in sweep.items() for lr in results]",
          "points = [(name, lr) for name in sweep for lr in sweep[name]]")),
    ],
}

