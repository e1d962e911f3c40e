"""What `connector validate` refuses for the Salesforce products, each at its file:line:col with
the reason and the fix: orders pulled from Service Cloud, a second integration for one Service
Cloud org, a partial B2C Commerce set-up, product push to a TikTok shop outside the markets that
take it, stock read from Service Cloud, and a login domain as an org's URL."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.project.validate import validate_paths

TIKTOK = """\
  tiktok:
    connector: tiktok_shop
    region: {region}
    currency: {currency}
    settings: {{shop_cipher: "${{env:C}}"}}
    credentials: {{app_key: "${{env:K}}", app_secret: "${{env:S}}", access_token: "${{env:A}}", refresh_token: "${{env:R}}"}}
"""
SERVICE = """\
  service:
    connector: salesforce_service_cloud
    settings: {{instance_url: "${{env:U}}", org_id: {org}}}
    credentials: {{client_id: "${{env:I}}", client_secret: "${{env:X}}", refresh_token: "${{env:T}}"}}
"""
COMMERCE = """\
  commerce:
    connector: salesforce_commerce_cloud
    settings: {{{settings}}}
    credentials: {{{credentials}}}
"""
ORG = "00D5g000004ABCDEAA"


def merchant(tmp_path: Path, name: str, connections: str, flows: str, primary: str = "") -> Path:
    path = tmp_path / name / "merchant.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"kind: merchant\nname: {name}\n{primary}connections:\n{connections}flows:\n"
                    + textwrap.indent(textwrap.dedent(flows), "  "))
    return path


def errors(*paths: Path) -> list:
    return [p for p in validate_paths(list(paths)) if p.severity == "error"]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_orders_are_not_pulled_from_service_cloud(tmp_path):
    path = merchant(tmp_path, "m", TIKTOK.format(region="US", currency="USD") + SERVICE.format(org=ORG), """\
        returns:
          flow: returns_from_tiktok
          connections: {channel: tiktok, store: service}
    """)
    found = {p.message.split(":")[0]: p for p in errors(path)}
    assert set(found) == {"connector 'salesforce_service_cloud' cannot pull order",
                          "connector 'salesforce_service_cloud' cannot push refund"}, list(found)
    problem = found["connector 'salesforce_service_cloud' cannot pull order"]
    assert problem.message.startswith("connector 'salesforce_service_cloud' cannot pull order: Service Cloud takes "
                                      "channel orders in")
    assert "salesforce_order_management" in problem.hint
    assert (Path(problem.location.file), problem.location.line) == (path, line_of(path, "connections: {channel"))
    assert problem.location.col > 1 and problem.path == "flows.returns.connections.store"


def test_stock_is_not_read_from_service_cloud(tmp_path):
    path = merchant(tmp_path, "m", TIKTOK.format(region="US", currency="USD") + SERVICE.format(org=ORG), """\
        inventory:
          flow: inventory_to_tiktok
          connections: {store: service, channel: tiktok}
          options: {warehouses: [{warehouse_id: "1", locations: ["a"]}]}
    """)
    found = [p for p in errors(path) if "cannot pull inventory_level" in p.message]
    assert found and "keeps no stock" in found[0].message and "salesforce_order_management" in found[0].hint
    assert found[0].location.line == line_of(path, "connections: {store: service")


def test_a_second_integration_for_one_service_cloud_org_is_refused(tmp_path):
    flows = """\
        orders:
          flow: orders_from_tiktok
          connections: {channel: tiktok, store: service}
    """
    first = merchant(tmp_path, "brand_a", TIKTOK.format(region="US", currency="USD") + SERVICE.format(org=ORG), flows)
    second = merchant(tmp_path, "brand_b", TIKTOK.format(region="US", currency="USD") + SERVICE.format(org=ORG), flows)
    assert not errors(first) and not errors(second)  # each alone is fine
    found = errors(first, second)
    assert len(found) == 1, [p.format() for p in found]
    problem = found[0]
    assert Path(problem.location.file) in (first, second) and problem.location.line == line_of(first, "org_id")
    other = "brand_a" if Path(problem.location.file) == second else "brand_b"
    assert f"org_id {ORG!r} already has an integration" in problem.message and other in problem.message
    assert "keep one connection" in problem.hint


def test_a_partial_commerce_cloud_setup_names_what_is_missing_and_what_for(tmp_path):
    settings = "organization_id: f_ecom_zzxy_prd, site_id: RefArch"
    credentials = ('am_client_id: "${env:A}", shop_client_id: "${env:B}", shop_client_password: "${env:C}", '
                   'ocapi_client_id: "${env:D}"')
    path = merchant(tmp_path, "m", COMMERCE.format(settings=settings, credentials=credentials), "{}\n")
    found = errors(path)
    assert len(found) == 1, [p.format() for p in found]
    problem = found[0]
    assert problem.message == "connection 'commerce' is set up only in part: missing short_code, am_client_password"
    assert "settings.short_code: the realm's 8-character short code" in problem.hint
    assert "credentials.am_client_password: that API client's password" in problem.hint
    assert problem.location.line == line_of(path, "commerce:") and problem.location.col == 3


def test_products_are_pushed_only_to_tiktok_shops_in_us_or_gb(tmp_path):
    full = ('am_client_id: "${env:A}", am_client_password: "${env:P}", shop_client_id: "${env:B}", '
            'shop_client_password: "${env:C}", ocapi_client_id: "${env:D}"')
    path = merchant(tmp_path, "m", TIKTOK.format(region="MY", currency="MYR")
                    + COMMERCE.format(settings="organization_id: f_ecom_zzxy_prd, short_code: kv7kzm78, site_id: X",
                                      credentials=full), """\
        catalog:
          flow: catalog_to_tiktok
          connections: {source: commerce, target: tiktok}
          options:
            warehouse_id: "1"
            category_map: {outerwear: "601303"}
            default_package_dimensions: {length: "30", width: "20", height: "10", unit: CENTIMETER}
    """, primary="primary_catalog: commerce\n")
    found = [p for p in errors(path) if "accepts product push only" in p.message]
    assert found, [p.format() for p in errors(path)]
    assert found[0].message == "tiktok_shop accepts product push only in US, GB; connection 'tiktok' is in MY"
    assert "primary_catalog" in found[0].hint
    assert found[0].location.line == line_of(path, "connections: {source: commerce")


def test_a_login_domain_is_no_org_url(tmp_path):
    path = merchant(tmp_path, "m", SERVICE.format(org=ORG).replace('"${env:U}"', "https://test.salesforce.com"), "{}\n")
    found = errors(path)
    assert len(found) == 1 and "is a login domain" in found[0].message
    assert found[0].location.line == line_of(path, "instance_url") and "My Domain" in found[0].hint


def test_an_organization_id_of_the_wrong_form_is_named_with_where_to_find_it(tmp_path):
    full = ('am_client_id: "${env:A}", am_client_password: "${env:P}", shop_client_id: "${env:B}", '
            'shop_client_password: "${env:C}", ocapi_client_id: "${env:D}"')
    path = merchant(tmp_path, "m", COMMERCE.format(settings="organization_id: zzxy_prd, short_code: kv7kzm78, site_id: X",
                                                   credentials=full), "{}\n")
    found = errors(path)
    assert len(found) == 1 and found[0].message.startswith("organization_id zzxy_prd is no Organization ID")
    assert "Salesforce Commerce API Settings" in found[0].hint and found[0].location.line == line_of(path, "organization_id")
