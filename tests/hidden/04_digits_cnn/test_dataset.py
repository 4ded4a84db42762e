"""DigitDataset: its contract, checked on small datasets built by your class in the sandbox. The
items come back as they are; their types, dtypes, shapes and values are read here."""
from collections import Counter
from types import SimpleNamespace

import torch

from autograder.evidence import check, fail


def _dataset(ev, k: int) -> SimpleNamespace:
    """The k-th dataset as the judge reads its shipped items: each item's type, each image's type
    and shape, each label (a Python int, else None) and its type, and the images stacked where
    they are tensors of one shape."""
    info = SimpleNamespace(length=None, item_types=[], image_types=[], label_types=[], labels=[],
                           shapes=[], images=None)
    if ev.typename(f"ds{k}.length") == "builtins.int":
        info.length = int(ev.value(f"ds{k}.length", int))
    images = []
    for item in ev.items(f"ds{k}.items"):
        info.item_types.append(ev.typename(item))
        if ev.kind(item) not in ("tuple", "list") or len(ev.items(item)) != 2:
            continue
        image, label = ev.items(item)
        info.image_types.append(ev.typename(image))
        info.label_types.append(ev.typename(label))
        info.labels.append(int(ev.number(label)) if ev.typename(label) == "builtins.int" else None)
        if ev.has_tensor(image):
            t = ev.tensor(image, dtype=None, finite=False, what="an image")
            info.shapes.append(list(t.shape))
            images.append(t)
    if images and all(im.shape == images[0].shape for im in images):
        info.images = torch.stack(images)
    return info


def _first(probe, what):
    ev = probe("dataset", what)
    datasets = [_dataset(ev, k) for k in range(3)]
    return ev, datasets


def _images(datasets, k: int, what: str) -> torch.Tensor:
    images = datasets[k].images
    if images is None:
        fail(f"{what} are not tensors of one shape")
    check(not images.is_floating_point() or bool(torch.isfinite(images).all()),
          f"{what} contain NaN or infinite values")
    return images


def test_dataset_length__catches_wrong_count(probe, p):
    """len(DigitDataset(n)) is 10 * n: n images of each digit."""
    ev, datasets = _first(probe, "len(DigitDataset(n))")
    n = datasets[0].length
    check(n is not None, f"len(DigitDataset(n)) is a {ev.kind('ds0.length')}, not an int")
    check(n == 10 * p.dataset_n_per_class, f"len(DigitDataset({p.dataset_n_per_class})) is {n}; "
          f"expected {10 * p.dataset_n_per_class} (n_per_class images of each of the 10 digits)")


def test_dataset_items_are_image_label_pairs__catches_wrong_types_or_shape(probe, p):
    """dataset[i] is (image, label): a float32 tensor of shape (1, 28, 28) and a Python int."""
    ev, datasets = _first(probe, "DigitDataset items")
    info = datasets[0]
    items = info.item_types
    check(len(items) > 0, "the dataset has no items")
    check(all(t in ("builtins.tuple", "builtins.list") for t in items) and
          len(info.image_types) == len(items),
          "dataset[i] should return a pair (image, label)")
    bad = {t for t in info.image_types if t != "torch.Tensor"}
    check(not bad, f"images should be torch tensors, not {sorted(bad)}")
    shapes = {tuple(s) for s in info.shapes}
    check(shapes == {(1, 28, 28)}, f"images should have shape (1, 28, 28) (one grey channel); "
          f"found {sorted(shapes)}")
    images = _images(datasets, 0, "the images")
    check(images.dtype == torch.float32, f"images should be float32, not {images.dtype}")
    labels = {t for t in info.label_types if t != "builtins.int"}
    check(not labels, f"labels should be Python ints (int(label)), not {sorted(labels)}")


def test_dataset_images_in_unit_range__catches_unscaled_pixels(probe):
    """Pixel values lie in [0, 1], as make_digit_image returns them."""
    ev, datasets = _first(probe, "DigitDataset images")
    images = _images(datasets, 0, "the images").double()
    lo, hi = images.min().item(), images.max().item()
    check(lo >= 0 and hi <= 1, f"pixel values range from {lo:g} to {hi:g}; they should stay in [0, 1]"
          + (" (were they multiplied by 255?)" if hi > 2 else ""))
    check(hi > 0.5, "the images are (nearly) blank")


def test_dataset_labels_balanced__catches_missing_or_out_of_range_classes(probe, p):
    """Labels are 0-9, each exactly n_per_class times."""
    ev, datasets = _first(probe, "DigitDataset labels")
    labels = datasets[0].labels
    check(all(isinstance(v, int) for v in labels), "labels should be Python ints")
    counts = Counter(labels)
    check(set(counts) <= set(range(10)), f"labels should be 0-9; found {sorted(set(counts) - set(range(10)))}")
    check(all(counts[d] == p.dataset_n_per_class for d in range(10)),
          f"each digit should appear {p.dataset_n_per_class} times; counts were "
          f"{[counts[d] for d in range(10)]}")


def test_dataset_labels_match_images__catches_shifted_labels(probe, p, plan, ref, measure):
    """Each image shows the digit its label names (checked against digits the judge drew itself)."""
    ev, datasets = _first(probe, "DigitDataset labels")
    images = _images(datasets, 0, "the images").float()
    check(tuple(images.shape[1:]) == (1, 28, 28), "the images do not have shape (1, 28, 28)")
    labels = datasets[0].labels
    check(len(labels) == len(images) and all(isinstance(v, int) for v in labels),
          "labels should be Python ints, one per image")
    seen = ref.nearest_labels(images, plan)
    agreement = (seen == torch.tensor(labels)).double().mean().item()
    shifted = max((seen == (torch.tensor(labels) + k) % 10).double().mean().item() for k in (1, -1))
    if not p.label_agreement.passes(measure("label_agreement", agreement)):
        hint = " (they look shifted by one)" if shifted > agreement else ""
        fail(f"only {agreement:.0%} of the labels match the digit drawn in the image{hint}; "
             "label each image with the digit you passed to make_digit_image")


def test_dataset_is_deterministic_per_seed(probe):
    """One generator per dataset: the same seed gives the same images, another seed other images,
    and two images of one digit are different drawings."""
    ev, datasets = _first(probe, "DigitDataset seeds")
    a = _images(datasets, 0, "the images")
    b = _images(datasets, 1, "the images of a second dataset with the same seed")
    c = _images(datasets, 2, "the images of a dataset with another seed")
    check(a.shape == b.shape and torch.equal(a, b) and datasets[0].labels == datasets[1].labels,
          "two datasets with the same seed differ: draw every image from one "
          "np.random.default_rng(seed), not from global or unseeded randomness")
    check(a.shape != c.shape or not torch.equal(a, c), "datasets with different seeds are identical: "
          "pass the seed to np.random.default_rng")
    same = _digits_drawn_alike(a, datasets[0].labels)
    check(not same, f"every image of digit {same[0] if same else ''} is the same image: a new "
          "generator for each image draws the same digit every time. Make one "
          "np.random.default_rng(seed) in __init__ and draw all the images from it")


def _digits_drawn_alike(images, labels) -> list:
    """The digits whose images (two or more) are all byte for byte the same."""
    by_digit: dict = {}
    for image, label in zip(images, labels):
        by_digit.setdefault(label, []).append(image)
    return sorted(d for d, drawn in by_digit.items() if d is not None and len(drawn) > 1
                  and all(torch.equal(drawn[0], other) for other in drawn[1:]))
