"""The custom search attributes the investigation workflows keep. No case content goes in these: the payload
codec cannot encrypt a search attribute (the server indexes its value), so only typed keys the server needs to
filter on are here (procedure, stage, authorities, whose move, next deadline), never a name, an address, a
recommendation or evidence. The respondent's name is in the memo, which the codec seals
(`enforce.investigations.MEMO_RESPONDENT`)."""

from temporalio.common import SearchAttributeKey

INVESTIGATION_STAGE = SearchAttributeKey.for_keyword("InvestigationStage")
PROCEDURE = SearchAttributeKey.for_keyword("Procedure")
LEAD_AUTHORITY = SearchAttributeKey.for_keyword("LeadAuthority")
AUTHORITIES = SearchAttributeKey.for_keyword_list("Authorities")
# No longer set or registered (it held the respondent's name in clear): read only from cases started before.
RESPONDENT = SearchAttributeKey.for_keyword("Respondent")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
AWAITING_PARTY = SearchAttributeKey.for_keyword("AwaitingParty")
# Set on an authority's own track (child workflow).
AUTHORITY = SearchAttributeKey.for_keyword("Authority")

ALL = [
    INVESTIGATION_STAGE,
    PROCEDURE,
    LEAD_AUTHORITY,
    AUTHORITIES,
    NEXT_DEADLINE,
    AWAITING_PARTY,
    AUTHORITY,
]

# How `temporal server start-dev --search-attribute` and `temporal operator search-attribute create` name types.
CLI_TYPE_NAMES = {
    "KEYWORD": "Keyword",
    "KEYWORD_LIST": "KeywordList",
    "DATETIME": "Datetime",
    "TEXT": "Text",
    "INT": "Int",
    "DOUBLE": "Double",
    "BOOL": "Bool",
}


def cli_specs() -> list[str]:
    """`Name=Type` for each attribute, as the temporal CLI takes them."""
    return [f"{k.name}={CLI_TYPE_NAMES[k.indexed_value_type.name]}" for k in ALL]
