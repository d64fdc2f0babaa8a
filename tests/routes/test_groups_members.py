"""Group members (seed 003): list, page, search, get, add (picker and plain form), replace, remove,
pending and accepted; the user page's panel; SECURITY A3 (ids in bodies), A4 and A7."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import delete, func, select, update

from portal import db
from portal.groups.queries import GroupsPanel, user_groups_panel
from portal.models import GroupMember, User
from tests.helpers import CallCounter, Client, Portal, Tenant, add_many_members, events, make_group


@pytest.fixture
def admin(portal: Portal, a: Tenant) -> Client:
    return portal.client(a.admin)


def _body(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def _member_emails(portal: Portal, group_id: uuid.UUID) -> set[str]:
    with portal.app.app_context():
        return set(
            db.session.scalars(
                select(User.email)
                .join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == group_id)
            )
        )


def _member_id(portal: Portal, group_id: uuid.UUID, user: User) -> uuid.UUID:
    return portal.scalar(select(GroupMember.id).where(GroupMember.group_id == group_id, GroupMember.user_id == user.id))


def _rows(body: str) -> list[str]:
    """The member emails of a members table, in order."""
    return re.findall(r'/members/[0-9a-f-]{36}">([^<]+)</a></td>', body)


# --- the members list --------------------------------------------------------------------------------


def test_group_page_lists_members_with_status_and_date(portal: Portal, a: Tenant, admin: Client) -> None:
    invited = portal.user(a.account, "invited-a", roles=(), status="pending", first_name="Ivy", last_name="Vited")
    disabled = portal.user(a.account, "off-a", roles=(), status="disabled")
    group = make_group(
        portal, a.account, "Engineering", members=(a.member, invited, disabled), description="Builds things"
    )
    for url in (f"/accounts/{a.id}/groups/{group.id}", f"/accounts/{a.id}/groups/{group.id}/members"):
        body = _body(admin.get(url))
        assert "Engineering" in body and "Builds things" in body and "3 members" in body
        rows = dict(
            re.findall(r'">([^<]+@example.com)</a></td>\s*<td>[^<]*</td>\s*<td><span class="status \w+">(\w+)<', body)
        )
        assert rows == {
            "member-a@example.com": "accepted",
            "invited-a@example.com": "pending",
            "off-a@example.com": "accepted",
        }
        assert "Ivy Vited" in body and "<time datetime=" in body


def test_accepting_the_invitation_makes_the_membership_accepted(portal: Portal, a: Tenant, admin: Client) -> None:
    invited = portal.user(a.account, "invited-a", roles=(), status="pending")
    group = make_group(portal, a.account, "Engineering", members=(invited,))
    member_url = f"/accounts/{a.id}/groups/{group.id}/members/{_member_id(portal, group.id, invited)}"
    assert ">pending</span>" in _body(admin.get(member_url))
    with portal.app.app_context():  # what accepting does to the user; the membership follows by itself
        db.session.execute(update(User).where(User.id == invited.id).values(status="active"))
        db.session.commit()
        assert user_groups_panel(a.id, db.session.get(User, invited.id)).memberships[0].status == "accepted"
    assert ">accepted</span>" in _body(admin.get(member_url))


def test_one_member_shows_seed_003_member_get_response(portal: Portal, a: Tenant, admin: Client) -> None:
    user = portal.user(a.account, "ann-a", roles=(), first_name="Ann", last_name="Lee")
    group = make_group(portal, a.account, "Engineering", members=(user,))
    other = make_group(portal, a.account, "Sales", members=(a.member,))
    member = portal.get(GroupMember, _member_id(portal, group.id, user))
    body = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}/members/{member.id}"))
    for text in (
        str(member.id),
        str(user.id),
        "ann-a@example.com",
        "<dd>Ann</dd>",
        "<dd>Lee</dd>",
        ">accepted<",
        member.created_at.isoformat(),
        f'href="/accounts/{a.id}/users/{user.id}"',
    ):
        assert text in body, text
    # The member id under another group of the same account is not found.
    assert admin.get(f"/accounts/{a.id}/groups/{other.id}/members/{member.id}").status_code == 404
    assert admin.get(f"/accounts/{a.id}/groups/{group.id}/members/{uuid.uuid4()}").status_code == 404


def test_members_are_searched_by_email_login_and_name(portal: Portal, a: Tenant, admin: Client) -> None:
    ann = portal.user(a.account, "ann-a", roles=(), first_name="Ann", last_name="Lee", email="ann@corp.example.com")
    bob = portal.user(a.account, "bob-a", roles=(), first_name="Bob", last_name="Annan")
    cid = portal.user(a.account, "cid-a", roles=(), first_name="Cid", last_name="Moe")
    group = make_group(portal, a.account, "Engineering", members=(ann, bob, cid))
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    assert set(_rows(_body(admin.get(f"{url}?q=ANN")))) == {"ann@corp.example.com", "bob-a@example.com"}
    assert _rows(_body(admin.get(f"{url}?q=ann%40corp"))) == ["ann@corp.example.com"]
    assert _rows(_body(admin.get(f"{url}?q=ann+lee"))) == ["ann@corp.example.com"]
    assert _rows(_body(admin.get(f"{url}?q=cid-"))) == ["cid-a@example.com"]
    assert _rows(_body(admin.get(f"{url}?q=%25"))) == []
    fragment = admin.get(f"{url}?q=moe", hx=True)
    body = _body(fragment)
    assert "<html" not in body and body.lstrip().startswith('<div id="member_list"')
    assert f'hx-get="{url}?q=moe" hx-trigger="members-changed from:body"' in body
    assert _rows(body) == ["cid-a@example.com"] and "1 match" in body
    assert "No member matches “zz”" in _body(admin.get(f"{url}?q=zz"))


def test_members_are_paged_by_keyset(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Big")
    add_many_members(portal, a.account, group, 45)  # bulk000000 is the oldest, bulk000044 the newest
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    first = _body(admin.get(url))
    assert _rows(first) == [f"bulk{i:06d}@example.com" for i in range(44, 24, -1)]
    assert "Page 1 of 3 · 45 members" in " ".join(first.split())
    next_url = re.search(r'href="([^"]+)"[^>]*>Next ›<', first).group(1).replace("&amp;", "&")
    assert "after=" in next_url and "from=20" in next_url
    second = _body(admin.get(next_url, hx=True))
    assert _rows(second) == [f"bulk{i:06d}@example.com" for i in range(24, 4, -1)]
    assert "Page 2 of 3 · 45 members" in " ".join(second.split())
    third_url = re.search(r'href="([^"]+)"[^>]*>Next ›<', second).group(1).replace("&amp;", "&")
    third = _body(admin.get(third_url))
    assert _rows(third) == [f"bulk{i:06d}@example.com" for i in range(4, -1, -1)] and ">Next ›<" not in third
    back_url = re.search(r'href="([^"]+)"[^>]*>‹ Previous<', third).group(1).replace("&amp;", "&")
    assert "before=" in back_url
    assert _rows(_body(admin.get(back_url))) == _rows(second)
    back_again = re.search(r'href="([^"]+)"[^>]*>‹ Previous<', second).group(1).replace("&amp;", "&")
    assert _rows(_body(admin.get(back_again))) == _rows(first)
    # Seed 002's `from` alone is an offset; `take` is at most 100; a broken cursor is the first page.
    assert _rows(_body(admin.get(f"{url}?from=40&take=3"))) == [f"bulk{i:06d}@example.com" for i in (4, 3, 2)]
    assert len(_rows(_body(admin.get(f"{url}?take=500")))) == 45
    assert _rows(_body(admin.get(f"{url}?after=garbage"))) == _rows(first)


def test_members_page_runs_the_same_statements_at_10_and_1000_members(portal: Portal, a: Tenant, admin: Client) -> None:
    small = make_group(portal, a.account, "Small")
    add_many_members(portal, a.account, small, 10, prefix="small")
    large = make_group(portal, a.account, "Large")
    add_many_members(portal, a.account, large, 1000, prefix="large")
    counts: dict[str, list[int]] = {}
    for group in (small, large):
        base = f"/accounts/{a.id}/groups/{group.id}"
        first = _body(admin.get(f"{base}/members?take=5"))
        after = re.search(r'href="([^"]+)"[^>]*>Next ›<', first).group(1).replace("&amp;", "&")
        for key, url, hx in (
            ("page", base, False),
            ("members", f"{base}/members", False),
            ("fragment", f"{base}/members", True),
            ("search", f"{base}/members?q=bulk", False),
            ("next", after, True),
        ):
            with portal.count_statements() as counter:
                assert admin.get(url, hx=hx).status_code == 200
            counts.setdefault(key, []).append(counter.count)
    for key, (at_10, at_1000) in counts.items():
        assert at_10 == at_1000, (key, counts)
    assert counts["page"][0] <= 4, counts  # 6 before the one-statement sign-in check


def test_members_pages_build_no_statement_of_their_own(portal: Portal, a: Tenant, admin: Client) -> None:
    """Issue 20: a members page's statements (the group, its count, the page by keyset or from a position) are
    built once and bound per call; a search's are still built per query."""
    group = make_group(portal, a.account, "Everyone")
    add_many_members(portal, a.account, group, 30)
    members = f"/accounts/{a.id}/groups/{group.id}/members"
    first = _body(admin.get(f"{members}?take=5"))
    after = re.search(r'href="([^"]+)"[^>]*>Next ›<', first).group(1).replace("&amp;", "&")
    before = re.search(r'href="([^"]+)"[^>]*>‹ Previous<', _body(admin.get(after))).group(1).replace("&amp;", "&")
    for url in (members, f"{members}?take=5", after, before, f"{members}?from=12&take=5"):
        admin.get(url)
        with CallCounter() as calls:
            assert admin.get(url, hx=True).status_code == 200
        assert not calls.statements_built, (url, calls.statements_built)  # 7 select() and where() before


def test_member_counts_are_capped(portal: Portal, a: Tenant, admin: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.groups import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 30)
    group = make_group(portal, a.account, "Big")
    add_many_members(portal, a.account, group, 45)
    body = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}"))
    assert "more than 30 members" in body and "30+ members" in " ".join(body.split()) and ">Next ›<" in body
    assert "more than 30 members" in _body(admin.get(f"/accounts/{a.id}/groups"))


# --- adding -----------------------------------------------------------------------------------------


def test_add_members_by_id_email_and_login_several_at_once(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering")
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    # Picker checkboxes (several `members` values) and the text field (comma/line separated) together.
    response = admin.post(url, {"members": [str(a.member.id), "AUDITOR-A@example.com, no-role-a\n"]})
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}"
    assert _member_emails(portal, group.id) == {
        "member-a@example.com",
        "auditor-a@example.com",
        "no-role-a@example.com",
    }
    page = _body(admin.get(response.headers["Location"]))
    assert "Added member-a@example.com, auditor-a@example.com, no-role-a@example.com." in page
    (event,) = events(portal, "group.members.add")
    assert event.target_id == str(group.id) and event.changes["added_count"] == 3
    assert set(event.changes["added"]) == {"member-a@example.com", "auditor-a@example.com", "no-role-a@example.com"}


def test_adding_a_member_again_is_a_no_op(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    before = _member_id(portal, group.id, a.member)
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    response = admin.post(url, {"members": f"{a.member.id}, member-a@example.com"})
    assert response.status_code == 303
    assert "Nothing changed; 1 was already a member." in _body(admin.get(response.headers["Location"]))
    assert _member_id(portal, group.id, a.member) == before
    assert events(portal, "group.members.add") == []
    assert admin.post(url, {"members": [str(a.member.id), str(a.auditor.id)]}).status_code == 303
    assert _member_emails(portal, group.id) == {"member-a@example.com", "auditor-a@example.com"}
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 2


@pytest.mark.parametrize(
    "entries",
    [
        ["nobody@example.com"],
        ["no-such-login"],
        [str(uuid.uuid4())],
    ],
)
def test_adding_unknown_people_adds_nobody(portal: Portal, a: Tenant, admin: Client, entries: list[str]) -> None:
    group = make_group(portal, a.account, "Engineering")
    for hx in (False, True):
        response = admin.post(
            f"/accounts/{a.id}/groups/{group.id}/members", {"members": [str(a.member.id), *entries]}, hx=hx
        )
        body = _body(response)
        assert response.status_code == 422 and f"Not a user of this account: {entries[0]}." in body
        assert ("<html" in body) is not hx
        if hx:
            assert body.lstrip().startswith('<section id="add_members">')
    assert _member_emails(portal, group.id) == set()


def test_adding_nobody_is_refused(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering")
    response = admin.post(f"/accounts/{a.id}/groups/{group.id}/members", {"members": " ,\n "})
    assert response.status_code == 422 and "Choose at least one person." in _body(response)


def test_users_of_another_account_are_never_added(portal: Portal, a: Tenant, admin: Client) -> None:
    """A3: ids and emails in the form body are looked up in the account of the URL only."""
    b = portal.tenant("B")
    group = make_group(portal, a.account, "Engineering")
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    for entry in (str(b.member.id), "member-b@example.com", "member-b"):
        response = admin.post(url, {"members": [str(a.member.id), entry]})
        assert response.status_code == 422 and entry in _body(response)
    response = admin.post(url, {"members": str(b.member.id), "return_to": "user"})
    assert response.status_code == 422
    replace = {"members": f"{a.member.id},{b.member.id}", "action": "apply"}
    assert admin.post(f"{url}/replace", replace).status_code == 422
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 0


def test_add_binds_only_members(portal: Portal, a: Tenant, admin: Client) -> None:
    """A7: a group id, account id or date in the body changes nothing."""
    b = portal.tenant("B")
    mine = make_group(portal, a.account, "Mine")
    theirs = make_group(portal, b.account, "Theirs")
    response = admin.post(
        f"/accounts/{a.id}/groups/{mine.id}/members",
        {
            "members": str(a.member.id),
            "group_id": str(theirs.id),
            "account_id": str(b.id),
            "created_at": "2000-01-01T00:00:00+00:00",
            "status": "pending",
        },
    )
    assert response.status_code == 303
    member = portal.get(GroupMember, _member_id(portal, mine.id, a.member))
    assert member.group_id == mine.id and member.created_at.year > 2000
    assert _member_emails(portal, theirs.id) == set()


def test_add_with_htmx_updates_the_form_the_list_and_the_count(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    response = admin.post(
        f"/accounts/{a.id}/groups/{group.id}/members", {"members": [str(a.auditor.id), str(a.no_role.id)]}, hx=True
    )
    body = _body(response)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<section id="add_members">')
    assert "Added auditor-a@example.com, no-role-a@example.com." in body
    assert '<div id="member_list" hx-swap-oob="true"' in body
    assert '<strong id="member_count" hx-swap-oob="true">3 members</strong>' in body
    assert set(_rows(body)) == {"member-a@example.com", "auditor-a@example.com", "no-role-a@example.com"}


def test_membership_grants_no_permission(portal: Portal, a: Tenant) -> None:
    """A4: a group carries no role, so joining one (even adding oneself) grants nothing."""
    group = make_group(portal, a.account, "Admins")
    manager = portal.client(a.group_manager)
    assert (
        manager.post(
            f"/accounts/{a.id}/groups/{group.id}/members", {"members": [str(a.group_manager.id), str(a.no_role.id)]}
        ).status_code
        == 303
    )
    nobody = portal.client(a.no_role)
    assert nobody.get(f"/accounts/{a.id}/groups").status_code == 403
    assert manager.get(f"/accounts/{a.id}/roles").status_code == 403


# --- the picker ---------------------------------------------------------------------------------------


def test_picker_searches_the_accounts_users_as_one_types(portal: Portal, a: Tenant, admin: Client) -> None:
    b = portal.tenant("B")
    portal.user(b.account, "alice-b", roles=(), first_name="Alice")
    alice = portal.user(a.account, "alice-a", roles=(), first_name="Alice", last_name="Archer")
    alan = portal.user(a.account, "alan-a", roles=(), first_name="Alan")
    group = make_group(portal, a.account, "Engineering", members=(alan,))
    url = f"/accounts/{a.id}/groups/{group.id}/candidates"
    response = admin.get(f"{url}?pick=al", hx=True)
    body = _body(response)
    assert response.status_code == 200 and body.lstrip().startswith('<fieldset id="candidates"')
    assert f'value="{alice.id}"' in body and "Alice Archer · alice-a@example.com" in body
    assert re.search(rf'value="{alan.id}" disabled>', body) and "(already a member)" in body
    assert "alice-b" not in body  # A3: the picker is scoped to the account
    # People already ticked stay ticked while the search changes; foreign or unknown ids are dropped.
    body = _body(admin.get(f"{url}?pick=member&members={alice.id}&members={b.member.id}&members=junk", hx=True))
    assert f'value="{alice.id}" checked' in body and f'value="{a.member.id}">' in body
    assert str(b.member.id) not in body and "member-b" not in body
    assert "Nobody in the account matches “zzz”" in _body(admin.get(f"{url}?pick=zzz", hx=True))


def test_picker_without_javascript_is_the_group_page(portal: Portal, a: Tenant, admin: Client) -> None:
    alice = portal.user(a.account, "alice-a", roles=(), first_name="Alice")
    group = make_group(portal, a.account, "Engineering")
    response = admin.get(f"/accounts/{a.id}/groups/{group.id}/candidates?pick=ali")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}?pick=ali#add_members"
    body = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}?pick=ali"))
    assert f'name="members" value="{alice.id}"' in body and 'value="ali"' in body


# --- replacing ---------------------------------------------------------------------------------------


def test_replace_previews_then_applies_in_one_go(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member, a.auditor))
    url = f"/accounts/{a.id}/groups/{group.id}/members/replace"
    form = _body(admin.get(url))
    assert "member-a@example.com\nauditor-a@example.com" in form or "auditor-a@example.com\nmember-a" in form
    preview = admin.post(url, {"members": "member-a@example.com\nno-role-a@example.com\nuser-manager-a"}, hx=True)
    body = _body(preview)
    assert preview.status_code == 200 and body.lstrip().startswith('<section id="replace_form">')
    to_add = body.split('id="to_add"')[1].split("</article>")[0]
    to_remove = body.split('id="to_remove"')[1].split("</article>")[0]
    assert "2 to add" in to_add and "no-role-a@example.com" in to_add and "user-manager-a@example.com" in to_add
    assert "1 to remove" in to_remove and "auditor-a@example.com" in to_remove
    assert "1 stays as they are." in body
    assert _member_emails(portal, group.id) == {"member-a@example.com", "auditor-a@example.com"}  # not yet
    hidden = dict(re.findall(r'<input type="hidden" name="(members|expected)" value="([^"]*)">', body))
    applied = admin.post(url, {**hidden, "action": "apply"})
    assert applied.status_code == 303 and applied.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}"
    assert _member_emails(portal, group.id) == {
        "member-a@example.com",
        "no-role-a@example.com",
        "user-manager-a@example.com",
    }
    assert (
        "Added no-role-a@example.com, user-manager-a@example.com; removed auditor-a@example.com; 1 unchanged."
        in _body(admin.get(applied.headers["Location"]))
    )
    (event,) = events(portal, "group.members.replace")
    assert event.changes["added_count"] == 2 and event.changes["removed"] == ["auditor-a@example.com"]


def test_replace_with_htmx_redirects_and_back_to_the_list_shows_emails(
    portal: Portal, a: Tenant, admin: Client
) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    url = f"/accounts/{a.id}/groups/{group.id}/members/replace"
    edit = admin.post(url, {"members": f"{a.auditor.id}", "action": "edit"}, hx=True)
    assert edit.status_code == 200 and "auditor-a@example.com</textarea>" in _body(edit)
    applied = admin.post(url, {"members": f"{a.auditor.id}", "action": "apply"}, hx=True)
    assert applied.status_code == 204 and applied.headers["HX-Redirect"] == f"/accounts/{a.id}/groups/{group.id}"
    assert _member_emails(portal, group.id) == {"auditor-a@example.com"}


def test_replace_with_nobody_empties_the_group(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member, a.auditor))
    url = f"/accounts/{a.id}/groups/{group.id}/members/replace"
    assert "2 to remove" in _body(admin.post(url, {"members": ""}))
    assert admin.post(url, {"members": "", "action": "apply"}).status_code == 303
    assert _member_emails(portal, group.id) == set()


def test_replace_refuses_a_preview_made_against_other_members(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    url = f"/accounts/{a.id}/groups/{group.id}/members/replace"
    body = _body(admin.post(url, {"members": "auditor-a"}))
    hidden = dict(re.findall(r'<input type="hidden" name="(members|expected)" value="([^"]*)">', body))
    # Meanwhile someone else adds a member.
    assert admin.post(f"/accounts/{a.id}/groups/{group.id}/members", {"members": "no-role-a"}).status_code == 303
    response = admin.post(url, {**hidden, "action": "apply"}, hx=True)
    body = _body(response)
    assert response.status_code == 409 and "The members changed since you reviewed the change." in body
    assert "2 to remove" in body  # the preview again, against the current members
    assert _member_emails(portal, group.id) == {"member-a@example.com", "no-role-a@example.com"}
    assert events(portal, "group.members.replace") == []


def test_replace_with_an_unknown_entry_changes_nothing(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    response = admin.post(
        f"/accounts/{a.id}/groups/{group.id}/members/replace",
        {"members": "auditor-a, ghost@example.com", "action": "apply"},
        hx=True,
    )
    assert response.status_code == 422 and "Not a user of this account: ghost@example.com." in _body(response)
    assert _member_emails(portal, group.id) == {"member-a@example.com"}


# --- removing ----------------------------------------------------------------------------------------


def test_remove_member(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member, a.auditor))
    member_id = _member_id(portal, group.id, a.member)
    response = admin.post(f"/accounts/{a.id}/groups/{group.id}/members/{member_id}/delete")
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}"
    assert _member_emails(portal, group.id) == {"auditor-a@example.com"}
    assert "Removed member-a@example.com from Engineering." in _body(admin.get(response.headers["Location"]))
    (event,) = events(portal, "group.members.remove")
    assert event.changes == {"removed": "member-a@example.com", "user_id": str(a.member.id)}
    assert admin.post(f"/accounts/{a.id}/groups/{group.id}/members/{member_id}/delete").status_code == 404


def test_remove_member_in_place_with_htmx_post_or_delete(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member, a.auditor))
    page = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}"))
    assert 'hx-target="closest tr"' in page
    member_id = _member_id(portal, group.id, a.member)
    response = admin.post(f"/accounts/{a.id}/groups/{group.id}/members/{member_id}/delete", hx=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "members-changed"
    # The row goes (nothing in its place), the count follows, and the page says what happened.
    body = _body(response)
    assert body.startswith('<strong id="member_count" hx-swap-oob="true">1 member</strong>')
    assert '<div id="messages" hx-swap-oob="innerHTML">' in body
    assert "Removed member-a@example.com from Engineering." in body
    other = _member_id(portal, group.id, a.auditor)
    response = admin.raw.delete(
        f"/accounts/{a.id}/groups/{group.id}/members/{other}",
        headers={"HX-Request": "true", "X-CSRFToken": admin.csrf()},
    )
    assert response.status_code == 200 and "0 members" in _body(response)
    assert _member_emails(portal, group.id) == set()


def test_remove_asks_first_without_javascript(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    member_id = _member_id(portal, group.id, a.member)
    remove_url = f"/accounts/{a.id}/groups/{group.id}/members/{member_id}/delete"
    # The list's Remove is a GET form to the confirmation page; htmx posts instead, after a dialog.
    page = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}"))
    assert re.search(rf'<form method="get" action="{remove_url}"[^>]*hx-post="{remove_url}"', page)
    assert 'hx-confirm="Remove member-a@example.com from Engineering?"' in page
    confirm = admin.get(remove_url)
    body = " ".join(_body(confirm).split())
    assert confirm.status_code == 200 and "Remove member-a@example.com from Engineering?" in body
    assert f'<form method="post" action="{remove_url}">' in body
    assert _member_emails(portal, group.id) == {"member-a@example.com"}
    from_user_page = " ".join(_body(admin.get(f"{remove_url}?return_to=user")).split())
    assert '<input type="hidden" name="return_to" value="user">' in from_user_page
    assert f'href="/accounts/{a.id}/users/{a.member.id}"' in from_user_page
    assert portal.client(a.auditor).get(remove_url).status_code == 403


# --- the user page's panel ----------------------------------------------------------------------------


def test_user_groups_panel(portal: Portal, a: Tenant) -> None:
    invited = portal.user(a.account, "invited-a", roles=(), status="pending")
    b = portal.tenant("B")
    make_group(portal, b.account, "Foreign", members=(b.member,))
    make_group(portal, a.account, "Sales", members=(invited,))
    make_group(portal, a.account, "Engineering", members=(invited, a.member))
    make_group(portal, a.account, "Support")
    with portal.app.app_context():
        user = db.session.get(User, invited.id)
        panel = user_groups_panel(a.id, user)
    assert isinstance(panel, GroupsPanel)
    assert [(m.group_name, m.status) for m in panel.memberships] == [("Engineering", "pending"), ("Sales", "pending")]
    assert all(m.member_id and m.created_at for m in panel.memberships)
    assert [choice.name for choice in panel.other_groups] == ["Support"]
    assert panel.more_groups is False


def test_adding_and_removing_from_the_user_page(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering")
    user_page = f"/accounts/{a.id}/users/{a.member.id}"
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    response = admin.post(url, {"members": str(a.member.id), "return_to": "user"})
    assert response.status_code == 303 and response.headers["Location"] == user_page
    assert _member_emails(portal, group.id) == {"member-a@example.com"}
    member_id = _member_id(portal, group.id, a.member)
    removed = admin.post(f"{url}/{member_id}/delete", {"return_to": "user"}, hx=True)
    body = _body(removed)
    assert removed.status_code == 200 and body.lstrip().startswith('<section id="user_groups">')
    assert "Removed member-a@example.com from Engineering." in body  # out of band, into the message area
    # Each button says what it does.
    assert ">Add Member-A to Engineering</button>" in body
    assert "is in no group" in body and f'formaction="{url}"' in body and 'name="return_to" value="user"' in body
    added = admin.post(url, {"members": str(a.member.id), "return_to": "user"}, hx=True)
    body = _body(added)
    assert added.status_code == 200 and body.lstrip().startswith('<section id="user_groups">')
    assert ">Engineering</a>" in body and "/delete" in body and ">accepted</span>" in body
    assert "Added Member-A to Engineering." in body
    member_id = _member_id(portal, group.id, a.member)
    response = admin.post(f"{url}/{member_id}/delete", {"return_to": "user"})
    assert response.status_code == 303 and response.headers["Location"] == user_page
    assert _member_emails(portal, group.id) == set()


@pytest.mark.parametrize("return_to", ["//evil.example", "https://evil.example", "/elsewhere", "users"])
def test_return_to_is_not_a_redirect_target(portal: Portal, a: Tenant, admin: Client, return_to: str) -> None:
    group = make_group(portal, a.account, "Engineering")
    response = admin.post(
        f"/accounts/{a.id}/groups/{group.id}/members", {"members": str(a.member.id), "return_to": return_to}
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}"


def test_deleting_a_user_takes_their_memberships(portal: Portal, a: Tenant) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member, a.auditor))
    other = make_group(portal, a.account, "Sales", members=(a.member,))
    with portal.app.app_context():
        db.session.execute(delete(User).where(User.id == a.member.id))
        db.session.commit()
    assert _member_emails(portal, group.id) == {"auditor-a@example.com"}
    assert _member_emails(portal, other.id) == set()
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 1


def test_replace_steps_are_the_buttons_values_and_anything_else_previews(
    portal: Portal, a: Tenant, admin: Client
) -> None:
    from portal.groups.forms import ReplaceStep

    group = make_group(portal, a.account, "Engineering", members=(a.member, a.auditor))
    url = f"/accounts/{a.id}/groups/{group.id}/members/replace"
    page = _body(admin.get(url))
    assert f'name="action" value="{ReplaceStep.PREVIEW}"' in page
    preview = _body(admin.post(url, {"members": "", "action": "something else"}))
    assert "2 to remove" in preview
    assert f'value="{ReplaceStep.APPLY}"' in preview and f'value="{ReplaceStep.EDIT}"' in preview
    assert _member_emails(portal, group.id) == {"member-a@example.com", "auditor-a@example.com"}  # not applied


def test_from_alone_finds_its_first_member_in_the_index_then_reads_the_page_by_keyset(
    portal: Portal, a: Tenant, admin: Client
) -> None:
    """Issue 20: `?from=N` without a cursor skipped N joined rows (each a user read); now an OFFSET over the
    group_members index alone finds the page's first key (a covering index on SQLite), and the page follows."""
    from typing import Any

    from sqlalchemy import event

    group = make_group(portal, a.account, "Big")
    add_many_members(portal, a.account, group, 45)
    url = f"/accounts/{a.id}/groups/{group.id}/members"
    every = _rows(_body(admin.get(f"{url}?take=100")))
    assert len(every) == 45
    for start in (1, 7, 20, 38, 44, 45, 60):
        assert _rows(_body(admin.get(f"{url}?from={start}&take=7"))) == every[start : start + 7], start
    engine = portal.app.extensions["portal.engine"]
    if engine.dialect.name != "sqlite":
        return
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "FROM group_members JOIN users" in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        assert admin.get(f"{url}?from=30&take=7").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as connection:
        plans = [
            " | ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            for statement, parameters in sent
        ]
    assert plans and all("COVERING INDEX ix_group_members_group_id_created_at" in plan for plan in plans), plans
