import base64

import pytest

from alfagent_common.errors import InvalidRequest
from store_service import pages
from store_service.index import ListFilter

RUN = ListFilter(run_id="run-1", task_type="pick", won=True)


def test_token_round_trip() -> None:
    token = pages.encode_token(RUN, 150)
    assert token.isascii() and "=" not in token
    assert pages.decode_token(token, RUN, available=150) == 150


def test_empty_token_is_the_first_page() -> None:
    assert pages.decode_token("", RUN, available=0) == 0


@pytest.mark.parametrize(
    "other",
    [ListFilter("run-2", "pick", True), ListFilter("run-1", "", True), ListFilter("run-1", "pick", None)],
)
def test_token_is_bound_to_its_filters(other: ListFilter) -> None:
    with pytest.raises(InvalidRequest, match="not issued for these filters"):
        pages.decode_token(pages.encode_token(RUN, 10), other, available=100)


@pytest.mark.parametrize("token", ["garbage", "!!!!", "é", "AAAA", "a" * 500])
def test_garbled_tokens(token: str) -> None:
    with pytest.raises(InvalidRequest, match="page_token"):
        pages.decode_token(token, RUN, available=100)


def test_edited_position_is_detected() -> None:
    raw = bytearray(base64.urlsafe_b64decode(pages.encode_token(RUN, 10) + "=="))
    raw[8] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(InvalidRequest):
        pages.decode_token(forged, RUN, available=100)


def test_position_past_the_end_is_rejected() -> None:
    with pytest.raises(InvalidRequest):
        pages.decode_token(pages.encode_token(RUN, 11), RUN, available=10)


def test_page_size() -> None:
    assert pages.check_page_size(0) == pages.DEFAULT_PAGE_SIZE
    assert pages.check_page_size(7) == 7
    assert pages.check_page_size(10**6) == pages.MAX_PAGE_SIZE
    with pytest.raises(InvalidRequest, match="negative"):
        pages.check_page_size(-1)
