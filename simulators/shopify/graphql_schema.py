"""The part of the Shopify GraphQL Admin API schema the simulator serves (2.6, 2.10, 2.11), and the
calculated query cost (2.5).

Money, Decimal, DateTime and URL are strings on the wire, ids are gid strings. Two schemas are
built: before 2025-10 inventory writes compare with `compareQuantity` (and `ignoreCompareQuantity`);
from 2025-10 with `changeFromQuantity`, and from 2026-01 the `@idempotent(key:)` directive exists
(it is optional there and mandatory from 2026-04, 2.8).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    build_schema,
    value_from_ast_untyped,
)

SUPPORTED_VERSIONS = ("2024-10", "2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04")
CHANGE_FROM_SINCE = "2025-10"
IDEMPOTENT_SINCE = "2026-01"
IDEMPOTENT_REQUIRED_SINCE = "2026-04"

_SDL = """
scalar Money
scalar Decimal
scalar DateTime
scalar URL

DIRECTIVE_IDEMPOTENT

interface Node { id: ID! }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type Count { count: Int! precision: String! }
type UserError { field: [String!] message: String! code: String }
type MoneyV2 { amount: Decimal! currencyCode: String! }
type Weight { value: Float! unit: String! }
type InventoryItemMeasurement { weight: Weight }

type Product implements Node {
  id: ID!
  legacyResourceId: String!
  title: String!
  handle: String!
  descriptionHtml: String!
  vendor: String!
  productType: String!
  status: String!
  tags: [String!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  publishedAt: DateTime
  options: [ProductOption!]!
  images(first: Int, after: String): ImageConnection!
  featuredImage: Image
  variantsCount: Count
  variants(first: Int, after: String): ProductVariantConnection!
}
type ProductOption { id: ID! name: String! position: Int! values: [String!]! optionValues: [ProductOptionValue!]! }
type ProductOptionValue { name: String! }
type Image { id: ID url: URL! altText: String width: Int height: Int }
type ImageEdge { node: Image! cursor: String! }
type ImageConnection { nodes: [Image!]! edges: [ImageEdge!]! pageInfo: PageInfo! }

type SelectedOption { name: String! value: String! }
type ProductVariant implements Node {
  id: ID!
  legacyResourceId: String!
  title: String!
  sku: String
  price: Money!
  compareAtPrice: Money
  barcode: String
  position: Int!
  inventoryQuantity: Int
  inventoryPolicy: String!
  taxable: Boolean!
  selectedOptions: [SelectedOption!]!
  inventoryItem: InventoryItem!
  product: Product!
  image: Image
  createdAt: DateTime!
  updatedAt: DateTime!
}
type ProductVariantEdge { node: ProductVariant! cursor: String! }
type ProductVariantConnection { nodes: [ProductVariant!]! edges: [ProductVariantEdge!]! pageInfo: PageInfo! }
type ProductEdge { node: Product! cursor: String! }
type ProductConnection { nodes: [Product!]! edges: [ProductEdge!]! pageInfo: PageInfo! }

type InventoryItem implements Node {
  id: ID!
  legacyResourceId: String!
  sku: String
  tracked: Boolean!
  requiresShipping: Boolean!
  unitCost: MoneyV2
  measurement: InventoryItemMeasurement!
  variant: ProductVariant
  inventoryLevels(first: Int, after: String): InventoryLevelConnection!
  inventoryLevel(locationId: ID!): InventoryLevel
  updatedAt: DateTime!
}
type InventoryItemEdge { node: InventoryItem! cursor: String! }
type InventoryItemConnection { nodes: [InventoryItem!]! edges: [InventoryItemEdge!]! pageInfo: PageInfo! }
type InventoryQuantity { name: String! quantity: Int! }
type InventoryLevel implements Node {
  id: ID!
  location: Location!
  item: InventoryItem!
  quantities(names: [String!]!): [InventoryQuantity!]!
  updatedAt: DateTime!
}
type InventoryLevelEdge { node: InventoryLevel! cursor: String! }
type InventoryLevelConnection { nodes: [InventoryLevel!]! edges: [InventoryLevelEdge!]! pageInfo: PageInfo! }

type Location implements Node { id: ID! legacyResourceId: String! name: String! isActive: Boolean! }
type LocationEdge { node: Location! cursor: String! }
type LocationConnection { nodes: [Location!]! edges: [LocationEdge!]! pageInfo: PageInfo! }

type BulkOperation implements Node {
  id: ID!
  status: String!
  errorCode: String
  createdAt: DateTime!
  completedAt: DateTime
  objectCount: String!
  rootObjectCount: String!
  fileSize: String
  url: URL
  partialDataUrl: URL
  query: String!
  type: String!
}

type Query {
  products(first: Int, after: String, query: String, sortKey: String): ProductConnection!
  product(id: ID!): Product
  productVariants(first: Int, after: String, query: String): ProductVariantConnection!
  productVariant(id: ID!): ProductVariant
  inventoryItems(first: Int, after: String, query: String): InventoryItemConnection!
  inventoryItem(id: ID!): InventoryItem
  locations(first: Int, after: String): LocationConnection!
  currentBulkOperation(type: String): BulkOperation
  node(id: ID!): Node
}

input ProductOptionValueInput { name: String! }
input OptionSetInput { name: String! position: Int values: [ProductOptionValueInput!] }
input VariantOptionValueInput { optionName: String! name: String! }
input WeightInput { value: Float! unit: String! }
input InventoryItemMeasurementInput { weight: WeightInput }
input InventoryItemInput { tracked: Boolean cost: Decimal sku: String requiresShipping: Boolean measurement: InventoryItemMeasurementInput }
input ProductSetInventoryInput { locationId: ID! name: String! quantity: Int! }
input ProductVariantSetInput {
  id: ID
  sku: String
  price: Money
  compareAtPrice: Money
  barcode: String
  position: Int
  taxable: Boolean
  inventoryPolicy: String
  optionValues: [VariantOptionValueInput!]!
  inventoryItem: InventoryItemInput
  inventoryQuantities: [ProductSetInventoryInput!]
}
input FileSetInput { originalSource: String! alt: String contentType: String }
input ProductSetInput {
  id: ID
  title: String
  handle: String
  descriptionHtml: String
  vendor: String
  productType: String
  status: String
  tags: [String!]
  productOptions: [OptionSetInput!]
  variants: [ProductVariantSetInput!]
  files: [FileSetInput!]
}
type ProductSetPayload { product: Product userErrors: [UserError!]! }

input ProductVariantsBulkInput { id: ID! price: Money compareAtPrice: Money barcode: String }
type ProductVariantsBulkUpdatePayload { product: Product productVariants: [ProductVariant!] userErrors: [UserError!]! }

input InventoryQuantityInput { inventoryItemId: ID! locationId: ID! quantity: Int! COMPARE_FIELD }
input InventorySetQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  IGNORE_FIELD
  quantities: [InventoryQuantityInput!]!
}
type InventoryChange { name: String! delta: Int! quantityAfterChange: Int item: InventoryItem location: Location }
type InventoryAdjustmentGroup { id: ID! reason: String! referenceDocumentUri: String changes: [InventoryChange!]! }
type InventorySetQuantitiesPayload { inventoryAdjustmentGroup: InventoryAdjustmentGroup userErrors: [UserError!]! }

type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [UserError!]! }
type BulkOperationCancelPayload { bulkOperation: BulkOperation userErrors: [UserError!]! }

type Mutation {
  productSet(input: ProductSetInput!, synchronous: Boolean): ProductSetPayload
  productVariantsBulkUpdate(productId: ID!, variants: [ProductVariantsBulkInput!]!): ProductVariantsBulkUpdatePayload
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  bulkOperationRunQuery(query: String!): BulkOperationRunQueryPayload
  bulkOperationCancel(id: ID!): BulkOperationCancelPayload
}
"""


@cache
def schema_for(version: str) -> GraphQLSchema:
    sdl = _SDL
    if version >= CHANGE_FROM_SINCE:
        sdl = sdl.replace("COMPARE_FIELD", "changeFromQuantity: Int").replace("IGNORE_FIELD", "")
    else:
        sdl = sdl.replace("COMPARE_FIELD", "compareQuantity: Int").replace(
            "IGNORE_FIELD", "ignoreCompareQuantity: Boolean")
    directive = "directive @idempotent(key: String!) on FIELD" if version >= IDEMPOTENT_SINCE else ""
    from .graphql_orders import SDL as ORDERS_SDL  # orders, customers, refunds, webhooks

    return build_schema(sdl.replace("DIRECTIVE_IDEMPOTENT", directive) + ORDERS_SDL)


# ----------------------------------------------------------------------------------- query cost
# 2.5: scalars and enums cost 0, objects 1, a connection 2 plus `first` times its node's cost; a
# mutation's root field costs 10. The requested cost is computed from the document before it runs
# (the bucket must hold it); the actual cost counts the objects the answer holds.

MUTATION_COST = 10


def requested_cost(operation: OperationDefinitionNode, fragments: dict, variables: dict) -> int:
    base = MUTATION_COST if operation.operation.value == "mutation" else 0
    return base + _selection_cost(operation.selection_set, fragments, variables)


def _arg(field: FieldNode, name: str, variables: dict) -> Any:
    for argument in field.arguments or ():
        if argument.name.value == name:
            return value_from_ast_untyped(argument.value, variables)
    return None


def _selection_cost(selection_set: Any, fragments: dict, variables: dict) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            total += _selection_cost(fragment.selection_set if fragment else None, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(selection.selection_set, fragments, variables)
        elif selection.selection_set is not None:
            size = _arg(selection, "first", variables) or _arg(selection, "last", variables)
            if size is not None:
                node_cost = 0
                for inner in selection.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "nodes":
                        node_cost = max(node_cost, 1 + _selection_cost(inner.selection_set, fragments, variables))
                    elif isinstance(inner, FieldNode) and inner.name.value == "edges":
                        node_cost = max(node_cost, _selection_cost(inner.selection_set, fragments, variables))
                total += 2 + int(size) * node_cost
            elif selection.name.value in ("pageInfo",):
                continue
            else:
                total += 1 + _selection_cost(selection.selection_set, fragments, variables)
    return total


def actual_cost(data: Any, mutation: bool) -> int:
    """Objects in the answer (a connection's wrapper and pageInfo are in its 2)."""
    def count(value: Any) -> int:
        if isinstance(value, list):
            return sum(count(v) for v in value)
        if isinstance(value, dict):
            if "pageInfo" in value:  # a connection
                return 2 + sum(count(v) for k, v in value.items() if k != "pageInfo")
            return 1 + sum(count(v) for v in value.values())
        return 0

    if not isinstance(data, dict):
        return 0
    return (MUTATION_COST if mutation else 0) + sum(count(v) for v in data.values())
