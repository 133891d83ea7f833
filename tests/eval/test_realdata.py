"""The real-photo bench's photo list and table (the reconstructions themselves run in the bench)."""

from uvatar.eval.realdata import find_photos, format_table


def test_finds_every_real_photo_by_framing(shared_dir):
    photos = find_photos(shared_dir / "realdata")
    assert len(photos) == 14
    assert {framing for framing, _ in photos} == {"head", "half", "full"}


def test_table_counts_photos_at_or_above_24_db():
    rows = [
        {"photo": "a.jpg", "framing": "head", "regime": "head", "psnr": 25.0, "ssim": 0.9, "mask_on_body": 0.8, "mask_on_body_or_shell": 1.0, "n_gaussians": 10, "n_shell": 2, "avatar_s": 4.0},
        {"photo": "b.jpg", "framing": "full", "regime": "full", "psnr": 20.0, "ssim": 0.7, "mask_on_body": 0.6, "mask_on_body_or_shell": 0.9, "n_gaussians": 10, "n_shell": 2, "avatar_s": 5.0},
        {"photo": "c.jpg", "framing": "half", "error": "NoPersonError: no person"},
    ]
    table = format_table(rows)
    assert "2/3 reconstructed" in table and "1 at or above 24 dB" in table and "failed: NoPersonError" in table
