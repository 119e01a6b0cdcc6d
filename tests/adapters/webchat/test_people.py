"""Who may pick which role, name slugs, and which rooms each role sees."""

from __future__ import annotations

import pytest

from adapters.webchat.people import Directory, PersonRefused, person_slug


def directory() -> Directory:
    return Directory(rooms=["it-help", "it-team"], team_rooms=["it-team"], intake_rooms=["it-help"],
                     people=[("Wang Fang", ["technician"]), ("Zhao Min", ["lead", "admin"])], bot_name="deskbot")


@pytest.mark.parametrize(("name", "slug"), [
    ("Wang Fang", "wang-fang"), ("  wang   FANG ", "wang-fang"), ("李雷", "李雷"), ("O'Brien", "obrien"),
])
def test_slug_ignores_case_and_spacing(name: str, slug: str) -> None:
    assert person_slug(name) == slug


def test_anyone_can_be_an_employee_but_staff_roles_need_config() -> None:
    d = directory()
    assert d.admit("Anyone At All", "employee").slug == "anyone-at-all"
    assert d.admit("wang fang", "technician").role == "technician"
    with pytest.raises(PersonRefused) as exc:
        d.admit("Li Lei", "technician")
    assert exc.value.code == "role_not_allowed"
    with pytest.raises(PersonRefused):
        d.admit("Wang Fang", "admin")


@pytest.mark.parametrize(("name", "role", "code"), [
    ("", "employee", "name_required"), ("   ", "employee", "name_required"),
    ("x" * 41, "employee", "name_too_long"), ("bad\u0000name", "employee", "name_invalid"),
    ("!!!", "employee", "name_invalid"), ("Li Lei", "superuser", "role_unknown"),
    ("DeskBot", "employee", "name_taken_by_bot"), (None, "employee", "name_required"),
])
def test_bad_names_and_roles_are_refused(name, role, code) -> None:
    with pytest.raises(PersonRefused) as exc:
        directory().admit(name, role)
    assert exc.value.code == code


def test_team_room_only_for_staff_and_dm_per_person() -> None:
    d = directory()
    employee = [r.id for r in d.rooms_for(d.admit("Li Lei", "employee"))]
    tech = [r.id for r in d.rooms_for(d.admit("Wang Fang", "technician"))]
    assert employee == ["it-help", "dm:li-lei"]
    assert tech == ["it-help", "dm:wang-fang", "it-team"]
    assert d.room("dm:li-lei").kind == "direct"
    assert d.room("dm:Li Lei") is None and d.room("dm:") is None and d.room("nowhere") is None
