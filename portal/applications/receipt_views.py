"""The public receipt check: anyone holding a receipt can have the portal confirm it."""

from __future__ import annotations

from flask import make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

from portal.applications import bp
from portal.applications.receipts import build_receipt, verify_receipt
from portal.extensions import db, limiter
from portal.forms import max_length, plain_text


def _squeeze(value: str | None) -> str | None:
    # Copied from a PDF or an e-mail, a code may carry spaces or line breaks.
    return "".join(value.split()) if value else value


class ReceiptCheckForm(FlaskForm):
    """Reference and signature as printed on a receipt (a GET lookup: no CSRF token)."""

    class Meta:
        csrf = False

    reference = StringField(
        _l("Receipt reference"),
        description=_l("As printed on the receipt, for example SHK-2026-000123."),
        filters=[_squeeze, lambda value: value.upper() if value else value],
        validators=[
            DataRequired(_l("Enter the receipt's reference.")),
            max_length(40),
            plain_text,
        ],
        render_kw={"maxlength": 40, "autocomplete": "off", "dir": "ltr", "spellcheck": "false"},
    )
    signature = StringField(
        _l("Signature"),
        description=_l("The 64 letters and digits printed under “Signature”."),
        filters=[_squeeze, lambda value: value.lower() if value else value],
        validators=[
            DataRequired(_l("Enter the receipt's signature.")),
            max_length(200),
            plain_text,
            Regexp(
                r"^[0-9a-f]{64}$",
                message=_l("A signature is 64 characters, digits 0-9 and letters a-f."),
            ),
        ],
        render_kw={"maxlength": 200, "autocomplete": "off", "dir": "ltr", "spellcheck": "false"},
    )


@bp.get("/receipts/check")
@limiter.limit("30 per minute")
def receipt_check():
    """Confirm a receipt from its reference and signature, or say it is not valid."""
    form = ReceiptCheckForm(formdata=request.args if request.args else None)
    checked = bool(request.args) and form.validate()
    submission = (
        verify_receipt(db.session, form.reference.data, form.signature.data) if checked else None
    )
    response = make_response(
        render_template(
            "applications/receipt_check.html",
            form=form,
            checked=checked,
            receipt=build_receipt(submission) if submission else None,
        )
    )
    # The answer depends on the stored row at this moment: never serve it from a cache.
    response.headers["Cache-Control"] = "no-store"
    return response
