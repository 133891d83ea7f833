import pytest

from uvatar.assets import KINDS, asset_info, asset_names, catalogue
from uvatar.errors import InputError


def test_catalogue_lists_every_kind_with_regions():
    cat = catalogue()
    assert len(cat) == 46
    assert {info.kind for info in cat.values()} == set(KINDS)
    assert asset_names("hair") == [
        "afro01", "bob01", "bob02", "braid01", "long01", "ponytail01", "short01", "short02", "short03", "short04",
    ]
    assert "head" in asset_info("bob02").region
    assert {"torso", "arms", "legs"} <= set(asset_info("male_casualsuit03").region)
    assert "feet" in asset_info("shoes01").region
    assert [n for n, info in catalogue().items() if info.loose] == ["female_elegantsuit01", "braid01", "long01", "ponytail01"]
    assert not asset_info("short02").loose and not asset_info("male_casualsuit03").loose


def test_bad_names_are_one_line_errors_listing_what_exists():
    with pytest.raises(InputError) as err:
        asset_info("nosuch")
    message = str(err.value)
    assert "\n" not in message and "'nosuch'" in message and "bob02" in message and "shoes01" in message
    with pytest.raises(InputError) as err:
        asset_info("bob02", kind="outfit")  # exists, but not as an outfit: list only the outfits
    assert "male_casualsuit03" in str(err.value) and "bob02, " not in str(err.value)
    with pytest.raises(InputError, match="kinds: hair, outfit"):
        asset_names("socks")
