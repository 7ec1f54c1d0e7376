"""The JavaScript client's XML-RPC codec, in the browser, against ours."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_samp.core.xmlrpc import decode_call, encode_fault, encode_response

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

VALUE = {
    "text": "a<b & c > d ]]> 'quoted' \"double\"\r\n\tend",
    "empty": "",
    "list": ["1", [], {}, ["nested", ["deeper"]]],
    "map": {"": "empty key", "k": {"deep": ["y", "z"]}},
    "every printable": "".join(chr(c) for c in range(32, 127)),
}


async def test_js_decodes_what_we_encode(page: Any) -> None:
    body = encode_response(VALUE).decode()
    assert await page.evaluate("(text) => samp.decodeResponse(text)", body) == VALUE


async def test_we_decode_what_js_encodes(page: Any) -> None:
    text = await page.evaluate("(value) => samp.encodeCall('samp.webhub.x', [value])", VALUE)
    assert decode_call(text.encode()) == ("samp.webhub.x", [VALUE])


async def test_js_turns_faults_into_samp_faults(page: Any) -> None:
    body = encode_fault(3207, "MType x.y blocked from web profile").decode()
    outcome = await page.evaluate(
        """(text) => { try { samp.decodeResponse(text); return null; }
                       catch (e) { return [e.name, e.code, e.message]; } }""",
        body,
    )
    assert outcome == ["SampFault", 3207, "MType x.y blocked from web profile"]


async def test_js_sends_numbers_and_booleans_as_samp_strings(page: Any) -> None:
    text = await page.evaluate("() => samp.encodeCall('m', [{n: 1.5, i: 2, yes: true, no: false}])")
    assert decode_call(text.encode()) == ("m", [{"n": "1.5", "i": "2", "yes": "1", "no": "0"}])
    refused = await page.evaluate(
        """() => [null, undefined, NaN].map((v) => {
             try { samp.encodeValue(v); return "encoded"; } catch (e) { return e.name; } })"""
    )
    assert refused == ["TypeError", "TypeError", "TypeError"]
