"""Three small services for the test plan tests: a library that calls a catalog and a members service.

``library`` uses :mod:`tests.unit.testing_toolkit.plan._logic` for its side effects (notifications,
reference numbers), so plans can mock them, and the real clock, so plans can freeze it.
"""

from __future__ import annotations

import datetime
from typing import Any

from pysoa_like.client.errors import CallActionError
from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.unit.testing_toolkit.plan import _logic

BOOKS: dict[int, dict[str, Any]] = {
    311: {"title": "Dune", "isbn": "978-0441013593", "tags": ["sf", "classic"], "copies": [{"barcode": "D-1"}]},
    412: {
        "title": "Emma",
        "isbn": "978-0141439587",
        "tags": ["classic"],
        "copies": [{"barcode": "E-1"}, {"barcode": "E-2"}],
    },
}


class GetBook(Action):
    """Returns a book, with the caller's locale and switches (to test job context inputs)."""

    request_schema = fields.Dictionary({"book_id": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        book = BOOKS.get(request.body["book_id"])
        if book is None:
            raise ActionError([Error(code="NOT_FOUND", message="No such book", field="book_id")])
        return {
            "book": dict(book, id=request.body["book_id"], withdrawn_at=None),
            "locale": request.context.get("locale", "en_US"),
            "switches": sorted(request.switches),
        }


class LendBook(Action):
    """Lends a book: checks stock with the catalog, the member with members, notifies, returns a loan."""

    request_schema = fields.Dictionary(
        {"book_id": fields.Integer(), "member_id": fields.UnicodeString(), "days": fields.Integer()},
        optional_keys=("days",),
    )

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        try:
            member = request.client.call_action("members", "get_member", {"member_id": request.body["member_id"]}).body
        except CallActionError:
            raise ActionError([Error(code="UNKNOWN_MEMBER", message="No such member", field="member_id")]) from None
        if member["member"]["status"] != "active":
            raise ActionError([Error(code="SUSPENDED", message="Member is suspended", field="member_id")])
        stock = request.client.call_action("catalog", "check_stock", {"book_id": request.body["book_id"]}).body
        if stock["available"] < 1:
            raise ActionError([Error(code="NOT_AVAILABLE", message="No copy is available")])
        now = datetime.datetime.now(datetime.timezone.utc)
        loan_id = _logic.next_reference("L")
        _logic.notify(request.body["member_id"], template="loan", loan_id=loan_id)
        return {
            "loan": {
                "id": loan_id,
                "book_id": request.body["book_id"],
                "member_id": request.body["member_id"],
                "lent_at": now,
                "due_on": (now + datetime.timedelta(days=request.body.get("days", 14))).date(),
            }
        }


class ReturnBook(Action):
    """Returns a loan; a control header key ``dry_run`` makes it change nothing."""

    request_schema = fields.Dictionary({"loan_id": fields.UnicodeString()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if not request.body["loan_id"].startswith("L-"):
            raise ActionError([Error(code="INVALID", message="Unknown loan", field="loan_id")])
        return {"loan_id": request.body["loan_id"], "dry_run": bool(request.control.get("dry_run", False))}


class SearchBooks(Action):
    """Echoes its query with typed values back, and the matching books."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        query = request.body.get("query", "")
        if query == "forbidden":
            raise JobError([Error(code="UNAUTHORIZED", message="Not allowed")])
        found = [dict(book, id=key) for key, book in sorted(BOOKS.items()) if query.lower() in book["title"].lower()]
        return {"query": dict(request.body), "results": found, "count": len(found)}


class LibraryServer(Server):
    service_name = "library"
    action_class_map = {
        "get_book": GetBook,
        "lend_book": LendBook,
        "return_book": ReturnBook,
        "search_books": SearchBooks,
    }


class CheckStock(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        book = BOOKS.get(request.body["book_id"])
        if book is None:
            raise ActionError([Error(code="NOT_FOUND", message="No such book", field="book_id")])
        return {"book_id": request.body["book_id"], "available": len(book["copies"])}


class CatalogServer(Server):
    service_name = "catalog"
    action_class_map = {"check_stock": CheckStock}


class GetMember(Action):
    MEMBERS = {"m-100": "active", "m-200": "suspended"}

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        member_id = request.body["member_id"]
        if member_id not in self.MEMBERS:
            raise ActionError([Error(code="NOT_FOUND", message="No such member", field="member_id")])
        return {"member": {"id": member_id, "status": self.MEMBERS[member_id], "joined": datetime.date(2020, 1, 2)}}


class MembersServer(Server):
    service_name = "members"
    action_class_map = {"get_member": GetMember}
