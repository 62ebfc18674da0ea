import numpy as np
import pytest
import torch

from core.data import Sample
from core.data.folder import FolderDataset
from core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform, pad_collate


def sample(h=30, w=40, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    label = np.zeros((h, w), np.uint8)
    label[:, : w // 3] = 7
    label[h // 2:, w // 2:] = 13
    label[::5, :] = 255
    label[0, 0] = 201
    return Sample(image=image, label=label, name="s")


@pytest.mark.parametrize("seed", range(6))
def test_train_transform_keeps_label_values_and_crop_shape(seed):
    s = sample(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    tf = TrainTransform(base_size=32, crop_size=24, scale=(0.25, 2.0), generator=gen)
    image, label = tf(s)
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32
    assert label.shape == (24, 24) and label.dtype == torch.int64
    assert set(label.unique().tolist()) <= {0, 7, 13, 201, 255}


def test_train_transform_pads_small_images_with_ignore():
    s = sample(10, 12)
    tf = TrainTransform(base_size=10, crop_size=40, scale=(1.0, 1.0), flip=False)
    image, label = tf(s)
    assert image.shape == (3, 40, 40)
    # scale 1.0 on a 10-px short side is the identity; the padding is bottom/right
    np.testing.assert_array_equal(label[:10, :12].numpy(), s.label)
    assert (label[10:, :] == 255).all() and (label[:, 12:] == 255).all()
    pad = image[:, 10:, :]
    expected = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).view(3, 1, 1)
    assert torch.allclose(pad, expected.expand_as(pad))


def test_flip_moves_image_and_label_together():
    s = sample(16, 16)
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    flips = 0
    for _ in range(8):
        image, label = TrainTransform(base_size=16, crop_size=16, scale=(1.0, 1.0), generator=gen_a)(s)
        ref_img, ref_lab = EvalTransform()(s)
        if torch.equal(label, ref_lab):
            assert torch.allclose(image, ref_img)
        else:
            flips += 1
            assert torch.equal(label, ref_lab.flip(-1)) and torch.allclose(image, ref_img.flip(-1))
    assert 0 < flips < 8
    # the same seed gives the same crop, scale and flip
    a = TrainTransform(base_size=16, crop_size=12, generator=gen_b)(s)
    b = TrainTransform(base_size=16, crop_size=12, generator=torch.Generator().manual_seed(3))(s)
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])


def test_eval_transform_normalises_and_keeps_everything():
    s = sample(9, 11)
    s.image[:] = (255, 0, 128)
    image, label = EvalTransform()(s)
    assert image.shape == (3, 9, 11)
    np.testing.assert_array_equal(label.numpy(), s.label)
    expected = (torch.tensor([1.0, 0.0, 128 / 255]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(image[:, 4, 5], expected, atol=1e-6)


def test_eval_max_size_shrinks_with_nearest_labels():
    s = sample(60, 90)
    image, label = EvalTransform(max_size=45)(s)
    assert image.shape == (3, 30, 45) and label.shape == (30, 45)
    assert set(label.unique().tolist()) <= {0, 7, 13, 201, 255}


def test_dataloader_end_to_end_with_pad_collate(tmp_path, build):
    root = build.make_folder(tmp_path / "ds", {"a": [1, 2], "b": None})
    build.write_image(root / "JPEGImages" / "c.png", build.blocky_image(20, 8, 5))
    ds = FolderDataset(root, transform=EvalTransform())
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=pad_collate)
    images, labels = next(iter(loader))
    assert images.shape == (3, 3, 20, 16) and labels.shape == (3, 20, 16)
    np.testing.assert_array_equal(labels[0, :12, :16].numpy(), build.label_with(12, 16, [1, 2]))
    assert (labels[1] == 255).all() and (labels[2, :, 8:] == 255).all() and (labels[0, 12:] == 255).all()
    images, labels = pad_collate([ds[0]], size_divisor=8)
    assert images.shape == (1, 3, 16, 16)


class _Repeat(torch.utils.data.Dataset):
    def __init__(self, s, transform):
        self.s, self.transform = s, transform

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.transform(self.s)


def test_workers_do_not_repeat_each_others_random_crops():
    s = sample(40, 40)
    tf = TrainTransform(base_size=40, crop_size=16, scale=(0.5, 2.0), generator=torch.Generator().manual_seed(0))

    def run():
        loader = torch.utils.data.DataLoader(_Repeat(s, tf), batch_size=1, num_workers=2,
                                             generator=torch.Generator().manual_seed(1))
        return [label for _, label in loader]

    first = run()
    # items 0 and 1 are the first draw of worker 0 and of worker 1
    assert not torch.equal(first[0], first[1])
    assert all(torch.equal(a, b) for a, b in zip(first, run()))  # reproducible from the seeds
