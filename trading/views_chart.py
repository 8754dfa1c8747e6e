"""The console's candle chart: its JSON (candles, indicators, trades, exit levels), read by static/js/candle-chart.js.

Kept apart from the panels (views.py): the chart is drawn in the browser from data, not swapped in as HTML, and
polls on its own clock with `after=` so a poll with nothing new costs one small query (docs/API.md)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from trading.auth import VIEW_DASHBOARD
from trading.chart_selectors import ChartQueryError, chart_json, chart_query_parse
from trading.views import HtmxHttpRequest, permission_required


@require_safe
@permission_required(VIEW_DASHBOARD)
def chart_candles(request: HtmxHttpRequest) -> HttpResponse:
    try:
        query = chart_query_parse(request.GET)
    except ChartQueryError as error:
        return JsonResponse({"error": str(error), "field": error.field}, status=400)
    response = HttpResponse(chart_json(query=query), content_type="application/json")
    response["Cache-Control"] = "no-cache, private"
    return response
