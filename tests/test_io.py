"""modecover.io: feature/sample files (.npy, .npz[:key], .pt/.pth[:key]) and their errors."""

import numpy as np
import pytest
import torch

from modecover.io import load_array, load_features, split_key


@pytest.fixture
def feats(rng):
    return rng.standard_normal((7, 3))


def test_npy_roundtrip_exact(tmp_path, feats):
    path = tmp_path / "f.npy"
    np.save(path, feats)
    out = load_features(path)
    assert out.dtype == np.float64 and np.array_equal(out, feats)


def test_float32_and_int_npy(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.int16).reshape(3, 2))
    np.save(tmp_path / "b.npy", np.ones((2, 2), dtype=np.float32))
    assert np.array_equal(load_features(tmp_path / "a.npy"), np.arange(6).reshape(3, 2))
    assert load_features(tmp_path / "b.npy").dtype == np.float32


def test_npz_single_and_keyed(tmp_path, feats):
    np.savez(tmp_path / "one.npz", x=feats)
    np.savez(tmp_path / "two.npz", real=feats, fake=feats[:3] + 1)
    assert np.array_equal(load_features(tmp_path / "one.npz"), feats)
    assert np.array_equal(load_features(f"{tmp_path / 'two.npz'}:fake"), feats[:3] + 1)
    with pytest.raises(ValueError, match=r"two\.npz: holds 2 arrays \['fake', 'real'\]"):
        load_features(tmp_path / "two.npz")
    with pytest.raises(ValueError, match=r"two\.npz:nope: no array called 'nope'"):
        load_features(f"{tmp_path / 'two.npz'}:nope")


def test_torch_tensor_and_dict(tmp_path, feats):
    t = torch.from_numpy(feats).float()
    torch.save(t, tmp_path / "t.pt")
    torch.save({"features": t, "step": 3}, tmp_path / "d.pth")
    torch.save({"a": t, "b": t}, tmp_path / "two.pt")
    assert np.array_equal(load_features(tmp_path / "t.pt"), t.numpy())
    assert np.array_equal(load_features(tmp_path / "d.pth"), t.numpy())  # the one tensor in the dict
    assert np.array_equal(load_features(f"{tmp_path / 'two.pt'}:b"), t.numpy())
    with pytest.raises(ValueError, match="holds 2 tensors"):
        load_features(tmp_path / "two.pt")
    with pytest.raises(ValueError, match="'step' is a int, not a tensor"):
        load_features(f"{tmp_path / 'd.pth'}:step")


def test_torch_file_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt: cannot read as a torch file with weights_only=True"):
        load_features(tmp_path / "evil.pt")


def test_split_key_only_after_known_suffix(tmp_path):
    assert split_key("a/b.npz:real") == (__import__("pathlib").Path("a/b.npz"), "real")
    assert split_key("a/b.txt:real")[1] is None
    odd = tmp_path / "x:y.npy"  # an existing path with a colon is taken as is
    np.save(odd, np.ones((2, 2)))
    assert split_key(odd)[1] is None and load_features(odd).shape == (2, 2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_bytes(b"garbage, not numpy"), "not a NumPy .npy file: it starts with 'garbage, not numpy'"),
        (lambda p: p.write_bytes(b"save\x93NUMPY"), r"not a NumPy \.npy file: it starts with the bytes 73 61 76 65 93"),
        (lambda p: np.save(p, np.zeros((0, 3))), r"holds an empty array \(shape \(0, 3\)\)"),
        (lambda p: np.save(p, np.zeros(5)),
         r"a 1-D array \(shape \(5,\)\) is ambiguous; save 5 samples of one feature as shape \(5, 1\)"),
        (lambda p: np.save(p, np.zeros((2, 3, 4))), "expected a 2-D array"),
        (lambda p: np.save(p, np.array([[1.0, np.nan], [0, 0]])), "1 non-finite value"),
        (lambda p: np.save(p, np.array([[1.0, 2.0], [np.inf, 0]])), r"at index \(1, 0\)"),
        (lambda p: np.save(p, np.array([["a", "b"]])), "expected numeric data"),
        (lambda p: np.save(p, np.array([[1 + 2j]])), "complex"),
        (lambda p: np.save(p, np.array([[{}]], dtype=object), allow_pickle=True), "cannot read as a numpy file"),
    ],
)
def test_bad_files_name_the_file(tmp_path, make, message):
    path = tmp_path / "bad_input.npy"
    make(path)
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        load_features(path)
    assert "bad_input.npy" in str(info.value)


def test_other_errors(tmp_path):
    (tmp_path / "f.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"f\.csv: unsupported file type '\.csv'"):
        load_features(tmp_path / "f.csv")
    with pytest.raises(ValueError, match="is a folder"):
        load_features(tmp_path)
    np.save(tmp_path / "f.npy", np.ones((3, 2)))
    with pytest.raises(ValueError, match="expected 4 feature columns"):
        load_features(tmp_path / "f.npy", dim=4)
    with pytest.raises(ValueError, match="needs at least 5 rows"):
        load_features(tmp_path / "f.npy", min_rows=5)
    with pytest.raises(ValueError, match="drop the ':k' part"):
        load_features(f"{tmp_path / 'f.npy'}:k")
    (tmp_path / "t.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"t\.pt: cannot read"):
        load_features(tmp_path / "t.pt")


def test_half_and_bfloat16_tensors_are_widened_exactly_to_float32(tmp_path, feats):
    for dtype in (torch.float16, torch.bfloat16):
        tensor = torch.from_numpy(feats).to(dtype)
        torch.save({"x": tensor}, tmp_path / "half.pt")
        loaded = load_features(f"{tmp_path / 'half.pt'}:x")
        assert loaded.dtype == np.float32 and np.array_equal(loaded, tensor.float().numpy())


def test_npz_object_array_names_the_file_and_key(tmp_path, feats):
    np.savez(tmp_path / "obj.npz", a=np.array([[{}]], dtype=object), b=feats)
    with pytest.raises(ValueError, match=r"obj\.npz:a: cannot read the archive \(Object arrays cannot be loaded"):
        load_features(f"{tmp_path / 'obj.npz'}:a")
    assert np.array_equal(load_features(f"{tmp_path / 'obj.npz'}:b"), feats)  # the other array still loads
    np.savez(tmp_path / "one.npz", a=np.array([[{}]], dtype=object))
    with pytest.raises(ValueError, match=r"one\.npz:a: cannot read the archive \(Object arrays cannot be loaded"):
        load_features(tmp_path / "one.npz")


def test_load_array_keeps_image_shape(tmp_path):
    imgs = np.random.default_rng(1).random((4, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "imgs.npy", imgs)
    assert np.array_equal(load_array(tmp_path / "imgs.npy"), imgs)
    bad = imgs.copy()
    bad[2, 0, 3, 5] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match=r"bad\.npy: 1 non-finite value\(s\); first is nan at index \(2, 0, 3, 5\)"):
        load_array(tmp_path / "bad.npy")


def test_write_atomic_replaces_whole_files_and_keeps_the_old_one_on_failure(tmp_path):
    from modecover.io import write_atomic

    path = tmp_path / "sub" / "result.json"
    assert write_atomic(path, '{"a": 1}') == path and path.read_text() == '{"a": 1}'
    write_atomic(path, b'{"a": 2}')
    assert path.read_text() == '{"a": 2}'
    with pytest.raises(TypeError):
        write_atomic(path, 3.5)  # not bytes: the write fails before the rename
    assert path.read_text() == '{"a": 2}'
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temporary file left


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("fake.npy", b"hello world\n1 2 3\n",
         r"fake\.npy: not a NumPy \.npy file: it starts with 'hello world\\n1 2 3\\n', "
         r"which is text; read text with numpy\.loadtxt"),
        ("fake.npz", "0,1\n2,3 température".encode(), r"fake\.npz: not a NumPy \.npz file: it starts with '0,1\\n2,3 "
                                                     r"température', which is text"),
        ("p.npy", "pickle", r"p\.npy: not a NumPy \.npy file: it is a Python pickle, which modecover never loads"),
        ("img.npy", b"\x89PNG\r\n\x1a\n" + bytes(40), r"img\.npy: not a NumPy \.npy file: it starts with the bytes "
                                                  r"89 50 4e 47 0d 0a 1a 0a \(a \.npy file starts with \\x93NUMPY"),
        ("cut.npy", b"\x00\x01" + "é".encode()[:1],
         r"cut\.npy: not a NumPy \.npy file: it starts with the bytes 00 01 c3"),
    ],
)
def test_a_file_that_is_not_numpy_is_named_for_what_it_is(tmp_path, name, content, message):
    # numpy calls any unknown content "pickled (object) data" and suggests loading it unsafely
    import pickle

    path = tmp_path / name
    path.write_bytes(pickle.dumps([1.0, 2.0]) if content == "pickle" else content)
    for load in (load_features, load_array):
        with pytest.raises(ValueError, match=message) as info:
            load(path)
        assert "pickled" not in str(info.value) and "allow_pickle" not in str(info.value)
    # the real formats, whatever their suffix, still load
    np.save(tmp_path / "ok.npy", np.ones((3, 2)))
    np.savez(tmp_path / "ok.npz", x=np.ones((3, 2)))
    np.savez(tmp_path / "none.npz")
    assert load_features(tmp_path / "ok.npy").shape == load_features(tmp_path / "ok.npz").shape == (3, 2)
    with pytest.raises(ValueError, match=r"none\.npz: holds 0 arrays"):
        load_features(tmp_path / "none.npz")


def test_evaluate_and_audit_name_a_text_file(tmp_path, rng):
    from helpers import cli

    np.save(tmp_path / "real.npy", rng.standard_normal((20, 3)))
    (tmp_path / "fake.npy").write_text("hello, these are my features\n")
    for args in (("evaluate", "--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy"),
                 ("audit", tmp_path / "fake.npy", "--out", tmp_path / "audit")):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert "fake.npy: not a NumPy .npy file: it starts with 'hello, these are my '" in result.output
        assert "unsafely" not in result.output
