"""Groups: list, create, edit, delete; who may do what; tenant isolation (SECURITY A3, A7)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from portal.models import Group, GroupMember
from tests.helpers import Client, Portal, Tenant, actor_of, events, make_group


@pytest.fixture
def admin(portal: Portal, a: Tenant) -> Client:
    return portal.client(a.admin)


def _groups(portal: Portal, account_id: uuid.UUID) -> list[tuple[str, str]]:
    with portal.app.app_context():
        from portal import db

        return [
            tuple(row)
            for row in db.session.execute(
                select(Group.name, Group.description).where(Group.account_id == account_id).order_by(Group.name)
            )
        ]


def _body(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


# --- the list -------------------------------------------------------------------------------------


def test_list_shows_groups_with_member_counts_and_searches(portal: Portal, a: Tenant, admin: Client) -> None:
    make_group(portal, a.account, "Engineering", members=(a.member, a.no_role), description="Builds things")
    make_group(portal, a.account, "Sales", members=(a.member,))
    make_group(portal, a.account, "Support")
    page = admin.get(f"/accounts/{a.id}/groups")
    body = _body(page)
    assert page.status_code == 200 and "<html" in body
    for text in ("Engineering", "Builds things", "2 members", "Sales", "1 member<", "Support", "0 members", "3 groups"):
        assert text in body
    assert f'href="/accounts/{a.id}/groups/new"' in body
    found = admin.get(f"/accounts/{a.id}/groups?q=ENG")
    assert "Engineering" in _body(found) and "Sales" not in _body(found) and "1 group " in _body(found)
    fragment = admin.get(f"/accounts/{a.id}/groups?q=s", hx=True)
    assert fragment.status_code == 200
    assert "<html" not in _body(fragment) and _body(fragment).lstrip().startswith('<section id="groups">')
    assert "Sales" in _body(fragment) and "Support" in _body(fragment) and "Engineering" not in _body(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "No group matches “zzz”" in _body(admin.get(f"/accounts/{a.id}/groups?q=zzz"))


def test_list_search_is_not_a_pattern(portal: Portal, a: Tenant, admin: Client) -> None:
    make_group(portal, a.account, "100% remote")
    make_group(portal, a.account, "Office")
    body = _body(admin.get(f"/accounts/{a.id}/groups?q=%25"))
    assert "100% remote" in body and "Office" not in body


def test_list_is_paged_with_from_and_take(portal: Portal, a: Tenant, admin: Client) -> None:
    for i in range(25):
        make_group(portal, a.account, f"Group {i:02d}")
    first = _body(admin.get(f"/accounts/{a.id}/groups"))
    assert "Group 19" in first and "Group 20" not in first and "Page 1 of 2" in first
    assert f'href="/accounts/{a.id}/groups?from=20"' in first
    second = _body(admin.get(f"/accounts/{a.id}/groups?from=20"))
    assert "Group 20" in second and "Group 24" in second and "Group 19" not in second and "Page 2 of 2" in second
    small = _body(admin.get(f"/accounts/{a.id}/groups?take=5&from=5"))
    assert "Group 05" in small and "Group 09" in small and "Group 04" not in small and "Group 10" not in small
    assert "Page 2 of 5" in small
    for bad in ("take=0", "take=1000", "take=x", "from=-3", "from=y"):
        assert admin.get(f"/accounts/{a.id}/groups?{bad}").status_code == 200
    assert "100 per page" in _body(admin.get(f"/accounts/{a.id}/groups?take=1000"))


def test_list_counts_members_in_one_statement_whatever_the_number_of_groups(
    portal: Portal, a: Tenant, admin: Client
) -> None:
    make_group(portal, a.account, "Only", members=(a.member,))
    admin.get(f"/accounts/{a.id}/groups")
    with portal.count_statements() as one:
        admin.get(f"/accounts/{a.id}/groups")
    for i in range(15):
        make_group(portal, a.account, f"More {i}", members=(a.member, a.no_role))
    with portal.count_statements() as many:
        body = _body(admin.get(f"/accounts/{a.id}/groups"))
    assert body.count("2 members") == 15
    assert many.count == one.count


# --- create ---------------------------------------------------------------------------------------


def test_create_group(portal: Portal, a: Tenant, admin: Client) -> None:
    assert "Name" in _body(admin.get(f"/accounts/{a.id}/groups/new"))
    response = admin.post(f"/accounts/{a.id}/groups", {"name": "  Engineering ", "description": "Builds things"})
    assert response.status_code == 303
    group = portal.scalar(select(Group).where(Group.account_id == a.id))
    assert (group.name, group.description) == ("Engineering", "Builds things")
    assert response.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}"
    page = _body(admin.get(response.headers["Location"]))
    assert "Group Engineering created." in page and "0 members" in page
    (event,) = events(portal, "group.create")
    assert event.target_id == str(group.id) and event.actor_id == a.admin.id and event.account_id == a.id
    assert event.changes == {"name": "Engineering", "description": "Builds things"}


def test_create_with_htmx_redirects_the_client(portal: Portal, a: Tenant, admin: Client) -> None:
    response = admin.post(f"/accounts/{a.id}/groups", {"name": "Sales"}, hx=True)
    group = portal.scalar(select(Group).where(Group.account_id == a.id))
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/accounts/{a.id}/groups/{group.id}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 101, "Field cannot be longer than 100 characters."),
        ("engineering", "Another group already has this name."),
        ("ENGINEERING ", "Another group already has this name."),
    ],
)
def test_create_refuses_invalid_names(portal: Portal, a: Tenant, admin: Client, name: str, message: str) -> None:
    make_group(portal, a.account, "Engineering")
    for hx in (False, True):
        response = admin.post(f"/accounts/{a.id}/groups", {"name": name, "description": "d"}, hx=hx)
        body = _body(response)
        assert response.status_code == 422
        assert message in body and 'aria-invalid="true"' in body
        assert ("<html" in body) is not hx
    assert _groups(portal, a.id) == [("Engineering", "")]
    assert events(portal, "group.create") == []


def test_create_refuses_a_long_description(portal: Portal, a: Tenant, admin: Client) -> None:
    response = admin.post(f"/accounts/{a.id}/groups", {"name": "Ok", "description": "d" * 256})
    assert response.status_code == 422 and "255" in _body(response)
    assert _groups(portal, a.id) == []


def test_same_name_in_another_account_is_fine(portal: Portal, a: Tenant, admin: Client) -> None:
    other, _ = portal.account("Other", login="other-owner")
    make_group(portal, other, "Engineering")
    assert admin.post(f"/accounts/{a.id}/groups", {"name": "Engineering"}).status_code == 303


def test_create_binds_only_name_and_description(portal: Portal, a: Tenant, admin: Client) -> None:
    """A7: account, id and dates in the body are ignored."""
    b = portal.tenant("B")
    forged = {
        "name": "Mine",
        "description": "",
        "account_id": str(b.id),
        "id": str(uuid.uuid4()),
        "created_at": "2000-01-01T00:00:00+00:00",
    }
    assert admin.post(f"/accounts/{a.id}/groups", forged).status_code == 303
    group = portal.scalar(select(Group))
    assert group.account_id == a.id and str(group.id) != forged["id"] and group.created_at.year > 2000
    assert _groups(portal, b.id) == []


# --- edit -----------------------------------------------------------------------------------------


def test_edit_group(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", description="old")
    form = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}/edit"))
    assert 'value="Engineering"' in form and 'name="version"' in form
    version = form.split('name="version" type="hidden" value="')[1].split('"')[0]
    response = admin.post(
        f"/accounts/{a.id}/groups/{group.id}/edit", {"name": "ENGINEERING", "description": "new", "version": version}
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{a.id}/groups/{group.id}"
    assert _groups(portal, a.id) == [("ENGINEERING", "new")]
    (event,) = events(portal, "group.update")
    assert event.changes == {"name": ["Engineering", "ENGINEERING"], "description": ["old", "new"]}


def test_edit_refuses_the_name_of_another_group(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering")
    make_group(portal, a.account, "Sales")
    response = admin.post(f"/accounts/{a.id}/groups/{group.id}/edit", {"name": "sales"}, hx=True)
    assert response.status_code == 422 and "Another group already has this name." in _body(response)
    assert "<html" not in _body(response)
    assert _groups(portal, a.id) == [("Engineering", ""), ("Sales", "")]


def test_edit_after_someone_else_saved_is_a_conflict(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering")
    form = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}/edit"))
    stale = form.split('name="version" type="hidden" value="')[1].split('"')[0]
    assert (
        admin.post(f"/accounts/{a.id}/groups/{group.id}/edit", {"name": "Platform", "version": stale}).status_code
        == 303
    )
    response = admin.post(
        f"/accounts/{a.id}/groups/{group.id}/edit", {"name": "Infrastructure", "version": stale}, hx=True
    )
    body = _body(response)
    assert response.status_code == 409 and "Someone else changed this group" in body and "Platform" in body
    assert _groups(portal, a.id) == [("Platform", "")]
    fresh = body.split('name="version" type="hidden" value="')[1].split('"')[0]
    assert fresh != stale
    assert (
        admin.post(f"/accounts/{a.id}/groups/{group.id}/edit", {"name": "Infrastructure", "version": fresh}).status_code
        == 303
    )
    assert _groups(portal, a.id) == [("Infrastructure", "")]


# --- delete ---------------------------------------------------------------------------------------


def test_delete_asks_first_then_deletes_the_group_and_its_memberships(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member, a.no_role))
    url = f"/accounts/{a.id}/groups/{group.id}/delete"
    page = _body(admin.get(url))
    assert "Delete the group Engineering?" in page and "2 members" in page and 'name="confirm" value="yes"' in page
    unconfirmed = admin.post(url)  # a plain form without confirm: the confirmation page, nothing deleted
    assert unconfirmed.status_code == 200 and "Delete the group Engineering?" in _body(unconfirmed)
    assert _groups(portal, a.id) == [("Engineering", "")]
    response = admin.post(url, {"confirm": "yes"})
    assert response.status_code == 303 and response.headers["Location"] == f"/accounts/{a.id}/groups"
    assert _groups(portal, a.id) == []
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 0
    assert portal.get(type(a.member), a.member.id) is not None
    assert "Group Engineering deleted." in _body(admin.get(f"/accounts/{a.id}/groups"))
    (event,) = events(portal, "group.delete")
    assert event.changes == {"name": "Engineering", "members": 2} and event.target_id == str(group.id)


def test_delete_with_htmx(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering")
    show = _body(admin.get(f"/accounts/{a.id}/groups/{group.id}"))
    assert 'hx-vals=\'{"confirm": "yes"}\'' in show and "hx-confirm=" in show
    response = admin.post(f"/accounts/{a.id}/groups/{group.id}/delete", {"confirm": "yes"}, hx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/accounts/{a.id}/groups"
    assert _groups(portal, a.id) == []


# --- who may do what --------------------------------------------------------------------------------


def _routes(
    account_id: uuid.UUID, group_id: uuid.UUID, member_id: uuid.UUID, user_id: uuid.UUID
) -> list[tuple[str, str, dict[str, str], bool]]:
    """(method, url, form, needs groups:write) for every groups route."""
    g = f"/accounts/{account_id}/groups/{group_id}"
    return [
        ("GET", f"/accounts/{account_id}/groups", {}, False),
        ("GET", f"{g}", {}, False),
        ("GET", f"{g}/members", {}, False),
        ("GET", f"{g}/members/{member_id}", {}, False),
        ("GET", f"/accounts/{account_id}/groups/new", {}, True),
        ("POST", f"/accounts/{account_id}/groups", {"name": "New"}, True),
        ("GET", f"{g}/edit", {}, True),
        ("POST", f"{g}/edit", {"name": "Renamed", "version": "1"}, True),
        ("GET", f"{g}/delete", {}, True),
        ("GET", f"{g}/candidates?pick=a", {}, True),
        ("POST", f"{g}/members", {"members": str(user_id)}, True),
        ("GET", f"{g}/members/replace", {}, True),
        ("POST", f"{g}/members/replace", {"members": str(user_id)}, True),
        ("POST", f"{g}/members/{member_id}/delete", {}, True),
        ("POST", f"{g}/delete", {"confirm": "yes"}, True),
    ]


@pytest.mark.parametrize(
    ("who", "reads", "writes"),
    [
        ("owner", True, True),
        ("admin", True, True),
        ("group_manager", True, True),
        ("user_manager", True, False),
        ("auditor", True, False),
        ("member", False, False),
        ("no_role", False, False),
    ],
)
def test_permissions(portal: Portal, a: Tenant, who: str, reads: bool, writes: bool) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    member_id = portal.scalar(select(GroupMember.id))
    client = portal.client(a.owner if who == "owner" else getattr(a, who))
    for method, url, form, needs_write in _routes(a.id, group.id, member_id, a.no_role.id):
        allowed = writes if needs_write else reads
        for hx in (False, True):
            response = client.get(url, hx=hx) if method == "GET" else client.post(url, form, hx=hx)
            if allowed:
                assert response.status_code < 400, (who, method, url, hx, response.status_code)
                if method == "POST":  # undo nothing: later requests of the loop only need a 2xx/3xx
                    break
            else:
                assert response.status_code == 403, (who, method, url, hx, response.status_code)
                assert ("<html" in _body(response)) is not hx
    if not writes:
        assert _groups(portal, a.id) == [("Engineering", "")]
        assert portal.scalar(select(func.count()).select_from(GroupMember)) == 1


def test_navigation_and_buttons_follow_permissions(portal: Portal, a: Tenant) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    show = f"/accounts/{a.id}/groups/{group.id}"
    manager = _body(portal.client(a.group_manager).get(show))
    assert f'href="/accounts/{a.id}/groups">Groups</a>' in manager
    for button in ("Add members", "Replace members", "Delete group", ">Remove<", ">Edit<"):
        assert button in manager
    auditor = _body(portal.client(a.auditor).get(show))
    assert f'href="/accounts/{a.id}/groups">Groups</a>' in auditor and "member-a@example.com" in auditor
    for button in ("Add members", "Replace members", "Delete group", ">Remove<", ">Edit<", "New group"):
        assert button not in auditor
    assert "New group" not in _body(portal.client(a.auditor).get(f"/accounts/{a.id}/groups"))
    refused = portal.client(a.member).get(f"/accounts/{a.id}/groups")
    assert refused.status_code == 403 and ">Groups</a>" not in _body(refused)


def test_missing_csrf_token_is_refused(portal: Portal, a: Tenant, admin: Client) -> None:
    group = make_group(portal, a.account, "Engineering", members=(a.member,))
    member_id = portal.scalar(select(GroupMember.id))
    for method, url, form, _ in _routes(a.id, group.id, member_id, a.no_role.id):
        if method == "POST":
            assert admin.post(url, form, csrf=False).status_code == 400, url
    assert admin.raw.delete(f"/accounts/{a.id}/groups/{group.id}/members/{member_id}").status_code == 400
    assert _groups(portal, a.id) == [("Engineering", "")]
    assert portal.scalar(select(func.count()).select_from(GroupMember)) == 1


# --- other accounts (A3) ----------------------------------------------------------------------------


def test_groups_of_another_account_do_not_exist(portal: Portal, a: Tenant, admin: Client) -> None:
    b = portal.tenant("B")
    theirs = make_group(portal, b.account, "Secret plans", members=(b.member,))
    their_member = portal.scalar(select(GroupMember.id).where(GroupMember.group_id == theirs.id))
    mine = make_group(portal, a.account, "Mine", members=(a.member,))
    for method, url, form, _ in _routes(a.id, theirs.id, their_member, b.no_role.id):
        if f"/groups/{theirs.id}" not in url:
            continue
        for hx in (False, True):
            response = admin.get(url, hx=hx) if method == "GET" else admin.post(url, form, hx=hx)
            assert response.status_code == 404, (method, url, hx)
            assert "Secret plans" not in _body(response) and "member-b" not in _body(response)
    # Their member id under my group, and my group under their account id, are 404 too.
    assert admin.get(f"/accounts/{a.id}/groups/{mine.id}/members/{their_member}").status_code == 404
    assert admin.post(f"/accounts/{a.id}/groups/{mine.id}/members/{their_member}/delete").status_code == 404
    assert admin.get(f"/accounts/{b.id}/groups").status_code == 404
    assert admin.get(f"/accounts/{b.id}/groups/{theirs.id}").status_code == 404
    assert "Secret plans" not in _body(admin.get(f"/accounts/{a.id}/groups"))
    assert _groups(portal, b.id) == [("Secret plans", "")]
    assert portal.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == theirs.id)) == 1


def test_a_missing_group_is_404(portal: Portal, a: Tenant, admin: Client) -> None:
    missing = uuid.uuid4()
    assert admin.get(f"/accounts/{a.id}/groups/{missing}").status_code == 404
    assert admin.get(f"/accounts/{a.id}/groups/not-a-uuid").status_code == 404
    assert admin.post(f"/accounts/{a.id}/groups/{missing}/edit", {"name": "x"}).status_code == 404


def test_a_name_taken_at_the_same_moment_is_a_conflict(portal: Portal, a: Tenant) -> None:
    """The form checks the name first; the database's unique constraint catches a concurrent twin."""
    from portal import db
    from portal.errors import Conflict
    from portal.groups import services

    make_group(portal, a.account, "Engineering")
    with portal.app.app_context():
        actor = actor_of(a.admin.id)
        with pytest.raises(Conflict):
            services.create_group(a.id, "Engineering", "", actor=actor)
        sales = services.create_group(a.id, "Sales", "", actor=actor)  # the transaction is still usable
        with pytest.raises(Conflict):
            services.update_group(sales, "Engineering", "x", actor=actor)
        db.session.commit()
    assert _groups(portal, a.id) == [("Engineering", ""), ("Sales", "")]


def test_group_names_are_shown_as_text(portal: Portal, a: Tenant, admin: Client) -> None:
    """C6: a name made of htmx attributes is escaped everywhere it is shown, attributes included."""
    name = '<div hx-get="/logout" hx-trigger="load">x</div>'
    group = make_group(portal, a.account, name, members=(a.member,))
    for url in (
        f"/accounts/{a.id}/groups",
        f"/accounts/{a.id}/groups/{group.id}",
        f"/accounts/{a.id}/groups/{group.id}/delete",
        f"/accounts/{a.id}/groups/{group.id}/members/replace",
    ):
        body = _body(admin.get(url))
        assert '<div hx-get="/logout"' not in body, url
        assert "&lt;div hx-get=&#34;/logout&#34;" in body, url
