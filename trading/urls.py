"""The dashboard, its htmx partials, the JSON API, health and metrics."""

from __future__ import annotations

from django.urls import path, re_path

from trading import api, api_manual, api_pause, api_trades, views, views_backtest, views_chart, views_live, views_pause

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("panels/live-quote", views_live.live_quote, name="live_quote"),  # ahead of panels/<name>: its own clock
    path("panels/<slug:name>", views.panel, name="panel"),
    path("engine/entries/<slug:action>", views_pause.entries_action, name="entries_action"),
    path("chart/candles", views_chart.chart_candles, name="chart_candles"),
    path("engine/<slug:action>", views.engine_action, name="engine_action"),
    path("orders/manual", views.manual_order, name="manual_order"),
    path("live/check", views.live_check, name="live_check"),
    path("orders/manual/<int:request_id>/cancel", views.manual_order_cancel, name="manual_order_cancel"),
    path("backtests/", views_backtest.backtests, name="backtests"),
    path("backtests/new", views_backtest.backtest_new, name="backtest_new"),
    path("backtests/params", views_backtest.backtest_params, name="backtest_params"),
    path("backtests/compare", views_backtest.backtest_compare, name="backtest_compare"),
    path("backtests/<int:pk>", views_backtest.backtest_detail, name="backtest_detail"),
    path("backtests/<int:pk>/progress", views_backtest.backtest_progress, name="backtest_progress"),
    path("backtests/<int:pk>/trades.csv", views_backtest.backtest_trades_csv, name="backtest_trades_csv"),
    path("backtests/<int:pk>/apply", views_backtest.backtest_apply, name="backtest_apply"),
    path("backtests/runs/<int:pk>/equity.svg", views_backtest.backtest_run_equity, name="backtest_run_equity"),
    path("backtests/studies", views.studies, name="studies"),
    path("backtests/studies/<int:pk>", views.study_detail, name="study_detail"),
    path("backtests/studies/<int:pk>/chart.svg", views.study_chart, name="study_chart"),
    path("backtests/studies/<int:pk>/apply", views.study_apply, name="study_apply"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("favicon.ico", views.favicon, name="favicon"),
    # JSON API (docs/API.md)
    path("api/engine/status", api.engine_status, name="api_engine_status"),
    re_path(r"^api/engine/(?P<action>start|stop|reset)$", api.engine_control, name="api_engine_control"),
    path("api/engine/pause-entries", api_pause.engine_pause_entries, name="api_engine_pause_entries"),
    path("api/engine/resume-entries", api_pause.engine_resume_entries, name="api_engine_resume_entries"),
    path("api/account/balance", api.account_balance, name="api_account_balance"),
    path("api/orders/recent", api.orders_recent, name="api_orders_recent"),
    path("api/orders/manual", api_manual.orders_manual, name="api_orders_manual"),
    path("api/orders/manual/<int:request_id>/cancel", api_manual.orders_manual_cancel, name="api_orders_manual_cancel"),
    path("api/logs/recent", api.logs_recent, name="api_logs_recent"),
    path("api/signals/recent", api.signals_recent, name="api_signals_recent"),
    path("api/pnl/daily", api.pnl_daily, name="api_pnl_daily"),
    path("api/trades", api_trades.trades, name="api_trades"),
    path("api/performance", api_trades.performance, name="api_performance"),
    re_path(r"^api(?:/.*)?$", api.not_found, name="api_not_found"),
]
