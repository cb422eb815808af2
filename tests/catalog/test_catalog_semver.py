import pytest

from graft.catalog import semver
from graft.errors import UserError


def test_order_follows_the_semver_spec():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "2.0.0"]
    shuffled = ordered[::-1][3:] + ordered[::-1][:3]
    assert sorted(shuffled, key=semver.sort_key) == ordered


def test_latest_prefers_releases_over_newer_prereleases():
    assert semver.latest(["1.2.0", "1.10.0", "2.0.0-rc.1", "1.9.9"]) == "1.10.0"
    assert semver.latest(["2.0.0-rc.1", "2.0.0-beta"]) == "2.0.0-rc.1"
    assert semver.latest([]) is None


@pytest.mark.parametrize("bad", ["1.0", "01.0.0", "1.0.0-", "latest", "", "1.0.0.0"])
def test_invalid_versions_are_user_errors(bad):
    with pytest.raises(UserError, match="not a semantic version"):
        semver.check(bad)


def test_leading_v_gets_a_precise_hint():
    with pytest.raises(UserError, match="use '1.2.3'"):
        semver.check("v1.2.3")
