"""QR codes drawn on the server for passes and certificates."""

import base64

from portal.qr import qr_png_data_uri, qr_svg


def test_qr_svg_is_an_image_with_an_escaped_title():
    svg = qr_svg("https://example.org/verify?code=<x>", title="Certificat <b>")
    assert svg.startswith('<svg role="img" ')
    assert "<title>Certificat &lt;b&gt;</title>" in svg
    assert "<b>" not in svg and "<x>" not in svg


def test_qr_png_data_uri_holds_a_png():
    uri = qr_png_data_uri("ABCD2345")
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")


def test_longer_data_makes_a_larger_code():
    assert len(qr_svg("A")) < len(qr_svg("https://example.org/" + "x" * 120))
