"""version.parse_upstream: upstream tag -> (upstream version, RPM version), in process."""

import pytest

from ollama_rpm.specgen import version


@pytest.mark.parametrize("tag, upstream, rpm", [
    ("v0.32.15", "0.32.15", "0.32.15"),
    ("0.32.15", "0.32.15", "0.32.15"),
    (" v0.32.15\n", "0.32.15", "0.32.15"),          # as read from a file
    ("v1.2", "1.2", "1.2"),
    ("v1.2.3.4", "1.2.3.4", "1.2.3.4"),
    ("v0.33.0-rc2", "0.33.0-rc2", "0.33.0~rc2"),     # ~ sorts before the final release
    ("v0.33.0-rc.2", "0.33.0-rc.2", "0.33.0~rc2"),
    ("v0.33.0-alpha1", "0.33.0-alpha1", "0.33.0~alpha1"),
    ("v0.33.0-beta.10", "0.33.0-beta.10", "0.33.0~beta10"),
])
def test_tags_map_to_versions(tag, upstream, rpm):
    assert version.parse_upstream(tag) == (upstream, rpm)


@pytest.mark.parametrize("tag", [
    "", "v", "1", "v1", "v1.2.3.4.5", "v0.32.15-dirty", "v0.33.0-rc", "v0.33.0-RC1", "0.32.15\n1.0",
    "v0.32.15-rc1-rc2", "v٠.٣٢.١٥",                  # Arabic-Indic digits: \d would take them
    "v" + "9" * 21 + ".1",                                       # unbounded numbers
    "latest", "v0.32.15; rm -rf /",
])
def test_anything_else_is_a_value_error_naming_it(tag):
    with pytest.raises(ValueError) as error:
        version.parse_upstream(tag)
    assert str(error.value) == tag


def test_rpm_sorts_a_pre_release_before_the_release():
    rpm = pytest.importorskip("rpm")
    pre, final = version.parse_upstream("v0.33.0-rc2")[1], version.parse_upstream("v0.33.0")[1]
    assert rpm.labelCompare(("0", pre, "1"), ("0", final, "1")) == -1
