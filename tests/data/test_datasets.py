"""modecover.data.images (Pillow folders) and modecover.data.datasets (digits, MNIST, CIFAR-10,
imbalance builder), all on tiny files written here."""

import gzip
import pickle
import re
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from modecover.data.datasets import load_cifar10, load_digits, load_mnist, make_imbalanced, read_idx
from modecover.data.images import list_image_files, load_image_folder


def _png(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8), mode=mode).save(path)


# ------------------------------------------------------------------ image folders

def test_folder_recursive_sorted_exact_values(tmp_path, rng):
    arrays = {name: rng.integers(0, 256, (5, 4, 3)) for name in ["b.png", "a.PNG", "sub/c.bmp", "sub/z/d.png"]}
    for name, arr in arrays.items():
        _png(tmp_path / name, arr)
    (tmp_path / "notes.txt").write_text("not an image")
    _png(tmp_path / ".hidden.png", arrays["b.png"])
    _png(tmp_path / ".git" / "e.png", arrays["b.png"])
    out = load_image_folder(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in out.files]
    assert rel == ["a.PNG", "b.png", "sub/c.bmp", "sub/z/d.png"]
    assert out.images.shape == (4, 3, 5, 4) and out.images.dtype == torch.float32 and out.skipped == []
    for i, name in enumerate(rel):
        expected = torch.from_numpy(arrays[name].transpose(2, 0, 1).astype(np.float32) / 255.0)
        assert torch.equal(out.images[i], expected)


def test_modes_grey_to_rgb_rgb_to_l_and_alpha(tmp_path, rng):
    grey = rng.integers(0, 256, (6, 6))
    rgba = rng.integers(0, 256, (6, 6, 4))
    _png(tmp_path / "g.png", grey)
    _png(tmp_path / "r.png", rgba, mode="RGBA")
    rgb = load_image_folder(tmp_path, mode="RGB").images
    assert torch.equal(rgb[0, 0], rgb[0, 1]) and torch.equal(rgb[0, 0], rgb[0, 2])
    assert torch.equal(rgb[0, 0], torch.from_numpy(grey.astype(np.float32) / 255))
    assert torch.equal(rgb[1], torch.from_numpy(rgba[..., :3].transpose(2, 0, 1).astype(np.float32) / 255))
    grey_out = load_image_folder(tmp_path, mode="L").images
    assert grey_out.shape == (2, 1, 6, 6)
    luma = np.asarray(Image.open(tmp_path / "r.png").convert("L"), dtype=np.float32) / 255
    assert torch.equal(grey_out[1, 0], torch.from_numpy(luma))
    with pytest.raises(ValueError, match="image mode must be one of"):
        load_image_folder(tmp_path, mode="CMYK")


def test_sixteen_bit_grey_keeps_its_depth(tmp_path, rng):
    deep = rng.integers(0, 65536, (5, 4)).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "a16.png")
    eight = rng.integers(0, 256, (5, 4))
    _png(tmp_path / "b8.png", eight)
    assert Image.open(tmp_path / "a16.png").mode.startswith("I")
    grey = load_image_folder(tmp_path, mode="L").images
    assert torch.equal(grey[0, 0], torch.from_numpy(deep.astype(np.float32) / np.float32(65535)))
    assert torch.equal(grey[1, 0], torch.from_numpy(eight.astype(np.float32) / np.float32(255)))
    rgb = load_image_folder(tmp_path, mode="RGB").images
    assert rgb.shape == (2, 3, 5, 4) and all(torch.equal(rgb[0, c], grey[0, 0]) for c in range(3))
    Image.fromarray(rng.random((5, 4)).astype(np.float32)).save(tmp_path / "c.tiff")
    with pytest.raises(ValueError, match=r"c\.tiff: cannot read this image .*32-bit float images"):
        load_image_folder(tmp_path)


def test_mixed_sizes_resized_to_most_common(tmp_path, rng):
    small = rng.integers(0, 256, (4, 4, 3))
    _png(tmp_path / "0.png", small)
    big = rng.integers(0, 256, (8, 6, 3))
    for name in ["1.png", "2.png"]:
        _png(tmp_path / name, big)
    with pytest.warns(UserWarning, match=re.escape(f"{tmp_path}: resized 1 of 3 images to 8x6 (HxW), the most "
                                                   "common size; sizes found: 8x6 (2), 4x4 (1)")):
        out = load_image_folder(tmp_path)
    assert out.images.shape == (3, 3, 8, 6)
    ref = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((6, 8), Image.Resampling.BICUBIC))
    assert torch.equal(out.images[0], torch.from_numpy(ref.transpose(2, 0, 1).astype(np.float32) / 255))
    assert torch.equal(out.images[1], torch.from_numpy(big.transpose(2, 0, 1).astype(np.float32) / 255))
    with pytest.raises(ValueError, match=r"0\.png: size 4x4 \(HxW\) differs from the folder's common size 8x6"):
        load_image_folder(tmp_path, resize=False)
    assert load_image_folder(tmp_path, size=5).images.shape == (3, 3, 5, 5)
    assert load_image_folder(tmp_path, size=(3, 7)).images.shape == (3, 3, 3, 7)
    with pytest.raises(ValueError, match="positive int"):
        load_image_folder(tmp_path, size=(0, 3))


@pytest.mark.parametrize("size", [True, (8, True), (False, 8), 0, (0, 3), (8,), "8", 8.0, np.bool_(True)])
def test_a_bad_image_size_is_named_and_a_bool_is_no_size(tmp_path, size):
    _png(tmp_path / "a.png", np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"^image size must be a positive int or \(H, W\) of positive ints, got "
                                         + re.escape(repr(size)) + "$"):
        load_image_folder(tmp_path, size=size)
    assert load_image_folder(tmp_path, size=np.int64(3)).images.shape == (1, 3, 3, 3)
    assert load_image_folder(tmp_path, size=np.array([2, 5])).images.shape == (1, 3, 2, 5)


def test_size_tie_goes_to_first_file(tmp_path, rng):
    _png(tmp_path / "a.png", rng.integers(0, 256, (3, 5)))
    _png(tmp_path / "b.png", rng.integers(0, 256, (7, 2)))
    assert load_image_folder(tmp_path, mode="L").images.shape == (2, 1, 3, 5)


def test_corrupt_file_named_or_skipped(tmp_path, rng):
    _png(tmp_path / "good.png", rng.integers(0, 256, (4, 4, 3)))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    full = tmp_path / "truncated.png"
    _png(full, rng.integers(0, 256, (32, 32, 3)))
    full.write_bytes(full.read_bytes()[:60])
    with pytest.raises(ValueError, match=r"broken\.png: cannot read this image"):
        load_image_folder(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\): .*broken\.png, .*truncated\.png"):
        out = load_image_folder(tmp_path, skip_corrupt=True)
    assert [p.name for p in out.files] == ["good.png"]
    assert [p.name for p in out.skipped] == ["broken.png", "truncated.png"]
    assert out.images.shape == (1, 3, 4, 4)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: no such folder"):
        load_image_folder(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"empty: no image files found"):
        load_image_folder(empty)
    (empty / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"empty: none of the 1 image file\(s\) could be read"):
        with pytest.warns(UserWarning):
            load_image_folder(empty, skip_corrupt=True)
    with pytest.raises(ValueError, match="is not a folder"):
        list_image_files(empty / "readme.txt")


def test_images_that_would_not_fit_in_memory_are_refused_with_their_size(tmp_path, rng, monkeypatch):
    import modecover._checks
    from modecover._checks import AllocationTooLarge

    for i in range(3):
        _png(tmp_path / f"{i}.png", rng.integers(0, 256, (40, 30, 3)))
    monkeypatch.setattr(modecover._checks, "available_memory_bytes", lambda: 40_000)
    # 3 x 3 x 40 x 30 float32 = 43,200 bytes (+ one image in flight) > 40,000: refused after decoding
    with pytest.raises(AllocationTooLarge, match=r"3 image\(s\) of 3 x 40 x 30 as float32 needs 0\.0 GiB .*"
                                                 r"choose a smaller image size \(--image-size, or size=\)"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, mode="L").images.shape == (3, 1, 40, 30)  # a third of it fits
    (tmp_path / "zz_broken.png").write_bytes(b"not a png")
    with pytest.raises(AllocationTooLarge, match=r"4 image\(s\) of 3 x 100 x 100"):  # size given: before decoding
        load_image_folder(tmp_path, size=100)


# ------------------------------------------------------------------ digits

def test_digits_scales():
    from sklearn.datasets import load_digits as sk

    ref = sk()
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x.reshape(-1, 64), torch.from_numpy((ref.data / 16.0).astype(np.float32)))
    assert torch.equal(y, torch.from_numpy(ref.target.astype(np.int64)))
    xs, _ = load_digits(scale="symmetric")
    assert xs.min() == -1 and xs.max() == 1 and torch.allclose(xs, 2 * x - 1)
    with pytest.raises(ValueError, match="scale must be one of"):
        load_digits(scale="bytes")


# ------------------------------------------------------------------ MNIST idx

def _write_idx(path, arr, *, gz=False, code=0x08):
    arr = np.asarray(arr)
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(">u1" if code == 0x08 else arr.dtype).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_roundtrip(tmp_path, rng, gz):
    imgs = rng.integers(0, 256, (5, 28, 28))
    labels = rng.integers(0, 10, 5)
    sfx = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", imgs, gz=gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", labels, gz=gz)
    x, y = load_mnist(tmp_path, split="test")
    assert x.shape == (5, 1, 28, 28)
    assert torch.equal(x[:, 0], torch.from_numpy(imgs.astype(np.float32) / 255))
    assert torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    xs, _ = load_mnist(tmp_path, split="test", scale="symmetric")
    assert torch.allclose(xs, 2 * x - 1)


def test_mnist_errors(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte: MNIST images file not found"):
        load_mnist(tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (4, 3, 3)))
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte: MNIST labels file not found"):
        load_mnist(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 3))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: expected 4 labels"):
        load_mnist(tmp_path)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "cut-idx3-ubyte").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"cut-idx3-ubyte: IDX header says shape \(4, 3, 3\)"):
        read_idx(tmp_path / "cut-idx3-ubyte")
    (tmp_path / "junk").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ValueError, match="junk: not an IDX file"):
        read_idx(tmp_path / "junk")
    with pytest.raises(ValueError, match="MNIST split"):
        load_mnist(tmp_path, split="val")


# ------------------------------------------------------------------ CIFAR-10 pickles

def _cifar_batch(path, data, labels):
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"x", b"data": data, b"labels": list(labels), b"filenames": []}, fh)


def test_cifar10_roundtrip(tmp_path, rng):
    parts = []
    for i in range(1, 6):
        data = rng.integers(0, 256, (2, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, 2)
        _cifar_batch(tmp_path / f"data_batch_{i}", data, labels)
        parts.append((data, labels))
    test_data = rng.integers(0, 256, (3, 3072)).astype(np.uint8)
    _cifar_batch(tmp_path / "test_batch", test_data, [1, 2, 3])
    x, y = load_cifar10(tmp_path)
    assert x.shape == (10, 3, 32, 32) and y.tolist() == np.concatenate([lab for _, lab in parts]).tolist()
    # CIFAR stores each row as 1024 red, then 1024 green, then 1024 blue values, row-major.
    first = parts[0][0][1]
    assert torch.equal(x[1, 1], torch.from_numpy(first[1024:2048].reshape(32, 32).astype(np.float32) / 255))
    xt, yt = load_cifar10(tmp_path, split="test")
    assert xt.shape == (3, 3, 32, 32) and yt.tolist() == [1, 2, 3]


def test_cifar10_errors(tmp_path, rng):
    for i in (1, 2, 4, 5):
        _cifar_batch(tmp_path / f"data_batch_{i}", rng.integers(0, 256, (1, 3072)).astype(np.uint8), [0])
    with pytest.raises(FileNotFoundError, match="data_batch_3: CIFAR-10 batch not found"):
        load_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": Evil()}, fh)
    with pytest.raises(ValueError,
                       match=r"data_batch_3: not a readable CIFAR-10 batch .*refusing to load builtins.print"):
        load_cifar10(tmp_path)
    _cifar_batch(tmp_path / "data_batch_3", rng.integers(0, 256, (1, 100)).astype(np.uint8), [0])
    with pytest.raises(ValueError, match=r"data_batch_3: 'data' should be \(N, 3072\)"):
        load_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_cifar10(tmp_path / "nope")


# ------------------------------------------------------------------ imbalance builder

def test_make_imbalanced_against_counts():
    labels = np.repeat(np.arange(4), [10, 7, 3, 20])
    x = np.arange(len(labels)) * 10
    xs, ls, kept = make_imbalanced(x, labels, rare_classes=[1, 3], fraction=0.25, seed=3)
    assert kept.dtype == np.int64 and np.all(np.diff(kept) > 0)
    assert np.array_equal(xs, x[kept]) and np.array_equal(ls, labels[kept])
    counts = np.bincount(ls, minlength=4)
    assert counts.tolist() == [10, round(0.25 * 7), 3, 5]
    # same seed -> same subset; another seed -> (here) another subset
    assert np.array_equal(make_imbalanced(x, labels, [1, 3], 0.25, seed=3)[2], kept)
    assert not np.array_equal(make_imbalanced(x, labels, [1, 3], 0.25, seed=4)[2], kept)
    # a tiny fraction still keeps one sample of the class; fraction 1 keeps everything
    assert np.bincount(make_imbalanced(x, labels, [2], 0.01)[1], minlength=4)[2] == 1
    assert np.array_equal(make_imbalanced(x, labels, [0, 1], 1.0)[2], np.arange(len(labels)))


def test_make_imbalanced_tensors_and_errors():
    x, y = load_digits()
    xs, ys, kept = make_imbalanced(x, y, rare_classes=[7], fraction=0.1, seed=0)
    assert isinstance(xs, torch.Tensor) and torch.equal(xs, x[torch.from_numpy(kept)])
    assert int((ys == 7).sum()) == round(0.1 * int((y == 7).sum()))
    assert len(ys) == len(y) - int((y == 7).sum()) + int((ys == 7).sum())
    with pytest.raises(ValueError, match=r"rare_classes \[11\] do not occur"):
        make_imbalanced(x, y, [11], 0.1)
    with pytest.raises(ValueError, match="x has 1797 samples but labels has 3"):
        make_imbalanced(x, y[:3], [1], 0.5)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=60),
    fraction=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_make_imbalanced_property(labels, fraction, seed, data):
    labels = np.array(labels)
    present = sorted(set(labels.tolist()))
    rare = data.draw(st.lists(st.sampled_from(present), min_size=1, unique=True))
    x = np.arange(len(labels))
    xs, ls, kept = make_imbalanced(x, labels, rare, fraction, seed=seed)
    before, after = np.bincount(labels, minlength=5), np.bincount(ls, minlength=5)
    for c in range(5):
        expected = max(1, round(fraction * before[c])) if c in rare and before[c] else before[c]
        assert after[c] == expected
    assert np.array_equal(xs, kept) and np.all(np.diff(kept) > 0)  # x = index, so x_kept = kept_index


@pytest.mark.parametrize("rare, message", [
    ([1, 1], r"rare_classes repeat: \[1, 1\]"),
    ([1.5], "rare_classes must be integers, got 1.5"),
    ([True], "rare_classes must be integers, got True"),
    ("12", "rare_classes must be an integer or a list of integers, got '12'"),
    (np.array([1.0, 2.0]), "rare_classes must be integers, got an array of dtype float64"),
])
def test_make_imbalanced_refuses_coercible_rare_classes(rare, message):
    labels = np.repeat(np.arange(3), 10)
    with pytest.raises(ValueError, match=message):
        make_imbalanced(np.arange(30), labels, rare, 0.5)


@pytest.mark.parametrize("fraction, seed, message", [
    *[(bad, 0, rf"^fraction must be a finite number in \(0, 1\], got {re.escape(repr(bad))}$")
      for bad in (0, 1.5, -0.1, True, float("nan"), "0.5")],
    *[(0.5, bad, rf"^seed must be a non-negative integer, got {re.escape(repr(bad))}$") for bad in (-1, 1.5, True)],
])
def test_make_imbalanced_bad_fraction_and_seed(fraction, seed, message):
    labels = np.repeat(np.arange(3), 10)
    with pytest.raises(ValueError, match=message):
        make_imbalanced(np.arange(30), labels, [1], fraction, seed=seed)


def test_make_imbalanced_takes_one_class_as_a_list():
    labels = np.repeat(np.arange(3), 10)
    one = make_imbalanced(np.arange(30), labels, 1, 0.5, seed=2)[2]
    assert np.array_equal(one, make_imbalanced(np.arange(30), labels, [1], 0.5, seed=2)[2])
    assert np.array_equal(one, make_imbalanced(np.arange(30), labels, torch.tensor([1]), 0.5, seed=2)[2])
