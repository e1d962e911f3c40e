"""upload_images: fetch each image once and upload it to the channel."""

from __future__ import annotations

from typing import Any

import httpx

from engine.errors import Problem, RecordError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.steps.base import ACTIONS, EXPR, ON_RECORD, ROLE, Step, _check_operation, _check_role
from engine.lang.expr import Scope


@STEPS.register("upload_images", options_schema={
    "type": "object", "additionalProperties": False, "required": ["to", "urls", "context_key"],
    "properties": {
        "to": ROLE,
        "entity": {"type": "string", "description": "Upload the way the role's connector declares it "
                                                    "(entities.<entity>.images); a channel that declares none takes "
                                                    "image URLs and the step does nothing."},
        "operation": {"type": "string", "description": "A multipart upload operation (instead of entity:)."},
        "urls": {**EXPR, **ON_RECORD, "description": "The image URLs of the record."},
        "file_field": {"type": "string", "default": "data", "description": "The multipart field carrying the file."},
        "form": {"type": "object", "description": "Other multipart fields, e.g. {use_case: MAIN_IMAGE}."},
        "result": {**EXPR, "description": "What to keep from the upload response record (e.g. uri)."},
        "context_key": {"type": "string", "description": "Later mappings read URL -> result from this context table."},
        "actions": ACTIONS,
    }}, doc="Fetch each image once and upload it to the channel; results are cached in the ID map by URL.")
class UploadImages(Step):
    kind = "upload_images"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.urls = run.exprs.jmespath(options["urls"])
        self.result = run.exprs.jmespath(options["result"])
        self.fetcher = httpx.Client(timeout=30, follow_redirects=True)

    def process(self, record: Record, run: RunContext) -> Record | None:
        conn_name = run.conn_name(self.options["to"])
        table = {}
        for url in self.urls.evaluate(Scope(record.data, record.data, None, {})) or []:
            known = run.store.get_remote_id("image", conn_name, url)
            if known:
                table[url] = known
                continue
            if run.dry_run:
                table[url] = f"(would upload {url})"
                continue
            try:
                fetched = self.fetcher.get(url)
                fetched.raise_for_status()
            except httpx.HTTPError as exc:
                raise RecordError(f"image {url} could not be fetched: {exc}", step="upload_images",
                                  field_errors=[{"field": "images", "message": f"cannot fetch {url}"}],
                                  retryable=True) from None
            name = url.rsplit("/", 1)[-1].split("?")[0] or "image.jpg"
            files = {self.options.get("file_field", "data"): (name, fetched.content,
                                                              fetched.headers.get("content-type", "image/jpeg"))}
            response = run.connection(self.options["to"]).call(self.options["operation"], files=files,
                                                                body=self.options.get("form"))
            value = self.result.evaluate(Scope(response.record, response.record, None, {}))
            if not value:
                raise RecordError(f"image upload of {url} returned no {self.options['result']}", step="upload_images")
            run.store.map_id("image", conn_name, url, str(value))
            table[url] = str(value)
        record.context[self.options["context_key"]] = table
        return record

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return _check_role(options, "to", ctx) + _check_operation(options, "operation", options.get("operation"),
                                                                  options.get("to"), ctx)
