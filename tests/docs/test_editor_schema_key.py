"""Every file kind takes a top-level `$schema` key and the yaml-language-server modeline, so an
editor finds the schema for completion; the shipped example merchants carry both."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.project.loader import Project
from engine.project.validate import Validator

ROOT = Path(__file__).resolve().parents[2]

FILES = {
    "connector": "kind: connector\nname: demo_shop\nbase_url: https://shop.example.test\n"
                 "auth: {kind: shopify_access_token}\ncredentials: [access_token]\n"
                 "operations:\n  get_product: {method: GET, path: /products/1.json}\n",
    "mapping": "kind: mapping\nname: demo.thing\nfields:\n  title: title\n",
    "flow": "kind: flow\nname: demo_flow\nsteps:\n  - validate: {entity: product}\n",
    "merchant": "kind: merchant\nname: acme\nconnections:\n  shop:\n    connector: demo_shop\n"
                "    credentials: {access_token: '${env:SHOP_TOKEN}'}\n",
    "test": "kind: test\nmapping: demo.thing\ncases:\n  - name: one\n    input: {title: T}\n    expect: {title: T}\n",
}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_schema_key_and_modeline_are_accepted(tmp_path: Path, kind: str) -> None:
    for other, text in FILES.items():
        if other != kind:
            (tmp_path / f"{other}.yaml").write_text(text, encoding="utf-8")
    schema = f"../schemas/{kind}.schema.json"
    (tmp_path / f"{kind}.yaml").write_text(
        f"# yaml-language-server: $schema={schema}\n$schema: {schema}\n" + FILES[kind], encoding="utf-8")
    problems = Validator(Project.load([tmp_path], include_shipped=True)).run()
    assert [p.format() for p in problems] == []


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*/merchant.yaml")),
                         ids=lambda p: p.parent.name)
def test_example_merchants_point_editors_at_the_merchant_schema(example: Path) -> None:
    lines = example.read_text(encoding="utf-8").splitlines()
    target = "../../schemas/merchant.schema.json"
    assert lines[0] == f"# yaml-language-server: $schema={target}"
    assert f"$schema: {target}" in lines
    assert (example.parent / target).resolve() == (ROOT / "schemas" / "merchant.schema.json").resolve()
