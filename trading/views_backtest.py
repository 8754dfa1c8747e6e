"""The console's backtests: the list and the "New backtest" form, a run's progress and results, the trades as CSV,
two runs side by side, and "use these parameters". The backtest itself runs in a worker process
(trading/backtest_jobs.py); these doors only queue it, read it and apply its parameters."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from trading import backtest_jobs, backtest_selectors
from trading.auth import CHANGE_STRATEGY, EXPORT_DATA, RUN_BACKTEST, VIEW_DASHBOARD, user_can
from trading.backtest_job_models import BacktestJob
from trading.errors import InvalidInput
from trading.forms_backtest import BacktestForm
from trading.param_fields import param_rows
from trading.views import actor_of, permission_required, stored_svg


def _job_or_404(pk: int) -> BacktestJob:
    job = backtest_selectors.job_get(pk)
    if job is None:
        raise Http404
    return backtest_jobs.backtest_job_settle(job=job)


def _list_page(request: HttpRequest, form: BacktestForm, *, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "jobs": backtest_selectors.jobs_recent(),
        "can_run": user_can(request.user, RUN_BACKTEST),
    }
    return render(request, "trading/backtests.html", context, status=status)


@require_safe
@permission_required(VIEW_DASHBOARD)
def backtests(request: HttpRequest) -> HttpResponse:
    return _list_page(request, BacktestForm(strategy=request.GET.get("strategy")))


@require_safe
@permission_required(RUN_BACKTEST)
def backtest_params(request: HttpRequest) -> HttpResponse:
    """The parameter fields of the chosen strategy (htmx swaps them in when the strategy changes)."""
    return render(request, "trading/_backtest_params.html", {"form": BacktestForm(strategy=request.GET.get("strategy"))})


@require_POST
@permission_required(RUN_BACKTEST)
def backtest_new(request: HttpRequest) -> HttpResponse:
    form = BacktestForm(request.POST, strategy=request.POST.get("strategy"))
    if not form.is_valid():
        return _list_page(request, form, status=400)
    job = backtest_jobs.backtest_job_create(request=form.request_data, actor=actor_of(request))
    return redirect("backtest_detail", pk=job.pk)


@require_safe
@permission_required(VIEW_DASHBOARD)
def backtest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    context = {
        "job": job,
        "summary": backtest_selectors.job_summary(job),
        "params_text": backtest_selectors.job_params_text(job.run.params if job.run else job.request.get("params")),
        "metrics": backtest_selectors.metric_rows(job),
        "trades": backtest_selectors.trade_page(job, request.GET.get("page")),
        "chart": backtest_selectors.chart_for_page(job),
        "can_apply": user_can(request.user, CHANGE_STRATEGY),
        "can_export": user_can(request.user, EXPORT_DATA),
        "others": backtest_selectors.jobs_done_other_than(job),
    }
    return render(request, "trading/backtest.html", context)


@require_safe
@permission_required(VIEW_DASHBOARD)
def backtest_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled while the run is queued or running; a finished run reloads the page (its results)."""
    job = _job_or_404(pk)
    if job.finished and request.headers.get("HX-Request"):
        return HttpResponseClientRefresh()
    return render(request, "trading/_backtest_progress.html", {"job": job})


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_safe
@permission_required(EXPORT_DATA)
def backtest_trades_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    if job.status != BacktestJob.Status.DONE:
        raise Http404
    writer = csv.writer(_Echo())
    rows: Iterator[str] = (writer.writerow(row) for row in backtest_selectors.trades_csv_rows(job))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="backtest-{job.pk}-trades.csv"'
    return response  # type: ignore[return-value]  # streamed: the decorators pass it through untouched


@require_safe
@permission_required(VIEW_DASHBOARD)
def backtest_compare(request: HttpRequest) -> HttpResponse:
    chosen = request.GET.getlist("run")
    if len(chosen) != 2 or not all(value.isdigit() for value in chosen) or chosen[0] == chosen[1]:
        messages.error(request, _("Choose two different finished backtests to compare."))
        return redirect("backtests")
    jobs = [_job_or_404(int(value)) for value in chosen]
    if any(job.status != BacktestJob.Status.DONE for job in jobs):
        messages.error(request, _("Only finished backtests can be compared."))
        return redirect("backtests")
    left, right = jobs
    context: dict[str, Any] = {
        "left": left,
        "right": right,
        "left_summary": backtest_selectors.job_summary(left),
        "right_summary": backtest_selectors.job_summary(right),
        "left_params": backtest_selectors.job_params_text(left.run.params if left.run else {}),
        "right_params": backtest_selectors.job_params_text(right.run.params if right.run else {}),
        "rows": backtest_selectors.compare_rows(left, right),
        "left_chart": backtest_selectors.chart_for_page(left),
        "right_chart": backtest_selectors.chart_for_page(right),
    }
    return render(request, "trading/backtest_compare.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@permission_required(CHANGE_STRATEGY)
def backtest_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what would change (current → the run's parameters), with a button; POST: apply them, recorded."""
    job = _job_or_404(pk)
    if job.status != BacktestJob.Status.DONE or job.run is None:
        raise Http404
    if request.method == "POST":
        try:
            backtest_jobs.backtest_params_apply(job=job, actor=actor_of(request))
        except InvalidInput as error:
            messages.error(request, error.text())
        else:
            messages.success(
                request,
                _("The parameters of backtest #%(job)s now drive %(strategy)s from the engine's next cycle.")
                % {"job": job.pk, "strategy": job.run.strategy},
            )
        return redirect("backtest_detail", pk=job.pk)
    stored = backtest_selectors.strategy_params_stored(job.run.strategy)
    now = {row.spec.name: row.current for row in param_rows(job.run.strategy, stored)}
    new = {row.spec.name: row.current for row in param_rows(job.run.strategy, job.run.params)}
    changes = [(name, now.get(name, ""), value, now.get(name, "") != value) for name, value in new.items()]
    return render(request, "trading/backtest_apply.html", {"job": job, "changes": changes, "strategy": job.run.strategy})


@require_safe
@permission_required(VIEW_DASHBOARD)
def backtest_run_equity(request: HttpRequest, pk: int) -> HttpResponse:
    """A run's stored equity chart as its own same-origin image, for the admin's run page (whose CSP allows no
    data: images)."""
    return stored_svg(backtest_selectors.run_equity_svg(pk))
