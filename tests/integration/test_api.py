"""REST API, health, readiness, metrics and OpenAPI through the ASGI app (httpx.ASGITransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine

from bot.app import create_app
from bot.config import Config
from bot.container import Container, build
from core.clock import FakeClock
from core.ports import NoKnowledge
from tests.harness import default_settings
from tests.integration.helpers import count, db_state

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_container(db_url: str) -> Container:
    config = Config(database={"url": db_url}, desks=default_settings().desks, api={"tokens": [TOKEN, "other"]})
    return build(config, clock=FakeClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC)), knowledge=NoKnowledge(),
                 with_adapters=False)


@pytest.fixture
async def client(db_url: str, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    container = make_container(db_url)
    app = create_app(container, run_workers=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
            yield c
    container.close()


async def create(client: httpx.AsyncClient, **body: object) -> dict:
    response = await client.post("/api/v1/tickets", json={"subject": "Disk full on db1", **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}])
async def test_a_token_is_required(client: httpx.AsyncClient, engine: Engine, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/api/v1/tickets"), ("POST", "/api/v1/tickets"), ("GET", "/api/v1/tickets/IT-1")):
        response = await client.request(method, path, headers=headers, json={"subject": "x"})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
    assert count(engine, "tickets") == 0


async def test_no_tokens_configured_refuses_everyone(db_url: str, engine: Engine) -> None:
    config = Config(database={"url": db_url}, desks=default_settings().desks)
    container = build(config, knowledge=NoKnowledge(), with_adapters=False)
    app = create_app(container, run_workers=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
        response = await c.get("/api/v1/tickets", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    container.close()


async def test_create_and_get(client: httpx.AsyncClient, engine: Engine) -> None:
    created = await create(client, description="/var is at 100%", priority="P1", category="hardware",
                           requester="api:zabbix", requester_name="Zabbix", location="Beijing DC")
    assert created["key"] == "IT-1" and created["status"] == "new" and created["priority"] == "P1"
    assert created["requester"] == "api:zabbix" and created["category"] == "hardware"
    response = await client.get("/api/v1/tickets/IT-1", headers=AUTH)
    assert response.status_code == 200
    ticket = response.json()
    assert ticket["description"] == "/var is at 100%" and ticket["location"] == "Beijing DC"
    assert [e["kind"] for e in ticket["timeline"]] == ["opened"]
    assert ticket["timeline"][0]["text"] == "Opened through the API by Zabbix"
    # the team chat hears about it
    assert count(engine, "outbox", "conversation_key = 'webchat||it-team|'") == 1
    for ref in ("1", "%231", "it-1"):
        again = await client.get(f"/api/v1/tickets/{ref}", headers=AUTH)
        assert again.status_code == 200 and again.json()["key"] == "IT-1", ref


async def test_defaults_from_the_desk(client: httpx.AsyncClient) -> None:
    created = await create(client)
    assert created["priority"] == "P2" and created["requester"] == "api:integration"
    assert created["description"] == "Disk full on db1"


async def test_list_with_filters(client: httpx.AsyncClient) -> None:
    await create(client, subject="one", priority="P1")
    await create(client, subject="two", requester="api:zabbix")
    await create(client, subject="three", priority="P1", requester="api:zabbix")
    await client.post("/api/v1/tickets/IT-3/status", json={"status": "in_progress"}, headers=AUTH)

    async def subjects(**params: object) -> list[str]:
        response = await client.get("/api/v1/tickets", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return [t["subject"] for t in response.json()]

    assert await subjects() == ["one", "two", "three"]
    assert await subjects(priority="P1") == ["one", "three"]
    assert await subjects(requester="api:zabbix") == ["two", "three"]
    assert await subjects(status="in_progress") == ["three"]
    assert await subjects(status="new", requester="api:zabbix") == ["two"]
    assert await subjects(limit=2) == ["one", "two"]
    assert await subjects(limit=2, offset=2) == ["three"]
    assert await subjects(desk="HR") == []


async def test_comment_and_status(client: httpx.AsyncClient) -> None:
    await create(client, requester="api:zabbix")
    response = await client.post("/api/v1/tickets/IT-1/comments", json={"text": "disk grew 10% in an hour"},
                                 headers=AUTH)
    assert response.status_code == 201
    response = await client.post("/api/v1/tickets/IT-1/status", json={"status": "resolved", "note": "rotated logs"},
                                 headers=AUTH)
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    ticket = (await client.get("/api/v1/tickets/IT-1", headers=AUTH)).json()
    assert [e["kind"] for e in ticket["timeline"]] == ["opened", "comment", "resolved"]
    assert ticket["resolved_at"] is not None


async def test_an_invalid_transition_is_a_409_that_changes_nothing(client: httpx.AsyncClient,
                                                                   engine: Engine) -> None:
    await create(client)
    await client.post("/api/v1/tickets/IT-1/status", json={"status": "closed"}, headers=AUTH)
    before = db_state(engine)
    response = await client.post("/api/v1/tickets/IT-1/status", json={"status": "waiting"}, headers=AUTH)
    assert response.status_code == 409
    assert "IT-1 is Closed" in response.json()["detail"]
    assert db_state(engine) == before


async def test_an_api_user_without_rights_is_refused(client: httpx.AsyncClient, engine: Engine) -> None:
    await create(client)
    before = db_state(engine)
    response = await client.post("/api/v1/tickets/IT-1/status", json={"status": "waiting", "actor": "webchat:bob"},
                                 headers=AUTH)
    assert response.status_code == 403
    assert db_state(engine) == before


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/tickets", {}, "subject"),
    ("/api/v1/tickets", {"subject": ""}, "subject"),
    ("/api/v1/tickets", {"subject": "x" * 201}, "subject"),
    ("/api/v1/tickets", {"subject": "x", "priority": "P9"}, "priority"),
    ("/api/v1/tickets", {"subject": "x", "requester": "no-platform"}, "requester"),
    ("/api/v1/tickets", {"subject": 42}, "subject"),
    ("/api/v1/tickets/IT-1/comments", {"text": ""}, "text"),
    ("/api/v1/tickets/IT-1/status", {"status": "sleeping"}, "status"),
])
async def test_malformed_bodies_are_422_naming_the_field(client: httpx.AsyncClient, engine: Engine, path: str,
                                                         body: dict, field: str) -> None:
    await create(client)
    before = db_state(engine)
    response = await client.post(path, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(err["loc"][-1] == field for err in detail), detail
    assert db_state(engine) == before


@pytest.mark.parametrize("body, words", [
    ({"subject": "x", "category": "plumbing"}, "category"),
    ({"subject": "x", "desk": "Facilities"}, "desk"),
])
async def test_unknown_category_or_desk_is_422(client: httpx.AsyncClient, engine: Engine, body: dict,
                                               words: str) -> None:
    response = await client.post("/api/v1/tickets", json=body, headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"].startswith(words)
    assert count(engine, "tickets") == 0


async def test_not_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/tickets", content=b"{not json", headers={**AUTH,
                                                                                     "Content-Type": "application/json"})
    assert response.status_code == 422


@pytest.mark.parametrize("key", ["IT-99", "99", "HR-1", "nonsense"])
async def test_unknown_ticket_is_404(client: httpx.AsyncClient, key: str) -> None:
    await create(client)
    for method, path, body in (("GET", f"/api/v1/tickets/{key}", None),
                               ("POST", f"/api/v1/tickets/{key}/comments", {"text": "x"}),
                               ("POST", f"/api/v1/tickets/{key}/status", {"status": "waiting"})):
        response = await client.request(method, path, json=body, headers=AUTH)
        assert response.status_code == 404, (method, path, response.text)


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.text == "ready"


async def test_readiness_fails_when_the_database_is_unreachable(tmp_path: object) -> None:
    config = Config(database={"url": "postgresql://nobody@127.0.0.1:1/none"}, desks=default_settings().desks)
    container = build(config, knowledge=NoKnowledge(), with_adapters=False)
    app = create_app(container, run_workers=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://desk") as c:
        ready = await c.get("/readyz")
        assert (await c.get("/healthz")).status_code == 200
    assert ready.status_code == 503 and ready.text.startswith("database unreachable")
    container.close()


async def test_metrics_in_prometheus_text_format(client: httpx.AsyncClient) -> None:
    await create(client)
    await create(client, subject="second")
    await client.post("/api/v1/tickets/IT-2/status", json={"status": "in_progress"}, headers=AUTH)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert 'deskbot_tickets{desk="IT",status="new"} 1' in lines
    assert 'deskbot_tickets{desk="IT",status="in_progress"} 1' in lines
    assert any(line.startswith('deskbot_outbox_messages{status="pending"} ') for line in lines)
    assert 'deskbot_outbox_messages{status="parked"} 0' in lines
    assert 'deskbot_intake_events{status="pending"} 0' in lines
    for name in ("events_received", "events_processed", "events_duplicate"):
        assert f"# TYPE deskbot_{name}_total counter" in lines
    for line in lines:  # every sample line is `name{labels} value`
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            assert name and float(value) >= 0, line


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert {"/api/v1/tickets", "/api/v1/tickets/{key}", "/api/v1/tickets/{key}/comments",
            "/api/v1/tickets/{key}/status"} <= set(spec["paths"])
    assert "post" in spec["paths"]["/api/v1/tickets"] and "get" in spec["paths"]["/api/v1/tickets"]


async def test_half_an_emoji_in_a_body_is_stored_as_a_replacement_character(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/tickets", content='{"subject": "VPN \\ud83d down", "description": "x\\u0000y"}',
                             headers={**AUTH, "content-type": "application/json"})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["subject"], resp.json()["description"]) == ("VPN \ufffd down", "xy")
    key = resp.json()["key"]
    resp = await client.post(f"/api/v1/tickets/{key}/comments", content='{"text": "\\ude00 still"}',
                             headers={**AUTH, "content-type": "application/json"})
    assert resp.status_code in (200, 201), resp.text
