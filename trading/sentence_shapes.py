"""The sentence shapes `trading.sentences` recognises, in the order it tries them (see there for how).

Each is an English template with named `%(placeholders)s`, marked with `gettext_noop` so `makemessages` puts it
in the catalogue; its translation must use the same placeholders. A shape whose first or last placeholder would
take in more than it should goes after the fuller shapes that begin or end the same way.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

TEMPLATES: tuple[str, ...] = (
    # --- signal explanations: trading/strategies/base.py -----------------------------------------------
    gettext_noop(
        "HOLD: entry signal held back, the volatility (ATR/close) is not known yet (the ATR is warming up; limit %(limit)s)"
    ),
    gettext_noop("HOLD: entry signal held back, the volatility (ATR/close) %(ratio)s%% is above max_volatility_pct %(limit)s"),
    gettext_noop("HOLD: warming up, %(count)s of %(needed)s candles needed before an entry"),
    gettext_noop("HOLD: exit signal but no position to sell"),
    # A decision's head: its action, then why (before the indicators' shapes, whose first placeholder would
    # otherwise take the "HOLD:" in).
    gettext_noop("BUY: %(why)s"),
    gettext_noop("SELL: %(why)s"),
    gettext_noop("HOLD: %(why)s"),
    gettext_noop("holding %(volume)s at an average %(price)s (%(change)s)"),
    # --- protective exits: trading/strategies/protective.py ---------------------------------------------
    gettext_noop("SELL (stop-loss %(pct)s): price %(price)s is at or below the stop %(level)s"),
    gettext_noop("SELL (ATR stop %(mult)s × ATR %(atr)s below the peak): price %(price)s is at or below the stop %(level)s"),
    gettext_noop(
        "SELL (ATR stop %(mult)s × ATR %(atr)s below the average buy price): price %(price)s is at or below the stop %(level)s"
    ),
    gettext_noop(
        "SELL (trailing stop %(pct)s): price %(price)s is at or below %(level)s, %(pct)s under the highest price "
        "since entry %(peak)s"
    ),
    gettext_noop("SELL (take-profit %(pct)s): price %(price)s reached the target %(level)s"),
    gettext_noop("average buy price %(price)s (%(change)s)"),
    # --- MACD ---------------------------------------------------------------------------------------------
    gettext_noop(
        "%(name)s line %(line)s crossed above its signal %(signal)s (histogram %(histogram)s; previous candle: "
        "line %(previous_line)s <= signal %(previous_signal)s)"
    ),
    gettext_noop(
        "%(name)s line %(line)s crossed below its signal %(signal)s (histogram %(histogram)s; previous candle: "
        "line %(previous_line)s >= signal %(previous_signal)s)"
    ),
    gettext_noop("%(name)s line %(line)s is above its signal %(signal)s (histogram %(histogram)s), no cross"),
    gettext_noop("%(name)s line %(line)s is below its signal %(signal)s (histogram %(histogram)s), no cross"),
    gettext_noop("%(name)s line %(line)s is on its signal %(signal)s (histogram %(histogram)s), no cross"),
    # --- RSI ------------------------------------------------------------------------------------------------
    gettext_noop("%(name)s %(value)s crossed above oversold %(level)s (previous candle: %(previous)s <= %(level)s)"),
    gettext_noop("%(name)s %(value)s crossed above overbought %(level)s (previous candle: %(previous)s <= %(level)s)"),
    gettext_noop("%(name)s is not known yet"),
    gettext_noop("%(name)s %(value)s is at or below oversold %(level)s, no cross"),
    gettext_noop("%(name)s %(value)s is at or above overbought %(level)s, no cross"),
    gettext_noop("%(name)s %(value)s is between oversold %(low)s and overbought %(high)s, no cross"),
    # --- volatility breakout ------------------------------------------------------------------------------
    gettext_noop("no target for trading day %(day)s (09:00 KST): the candles do not hold the complete previous day"),
    gettext_noop("trading day %(day)s ends with this candle"),
    gettext_noop(
        "sell to be out at the next day's open (target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s)"
    ),
    gettext_noop(
        "close %(close)s broke above the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s, "
        "but the day ends with this candle"
    ),
    gettext_noop("no entry"),
    gettext_noop("position carried into trading day %(day)s"),
    gettext_noop("the breakout trade ends at the day change"),
    gettext_noop("close %(close)s broke above the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s"),
    gettext_noop(
        "close %(close)s is above the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s, "
        "no breakout cross"
    ),
    gettext_noop(
        "close %(close)s is at or below the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s, "
        "no breakout cross"
    ),
    # --- SMA cross (after MACD: its shape is the loosest) --------------------------------------------------
    gettext_noop(
        "%(fast)s %(fast_value)s crossed above %(slow)s %(slow_value)s (previous candle: %(fast_before)s <= %(slow_before)s)"
    ),
    gettext_noop(
        "%(fast)s %(fast_value)s crossed below %(slow)s %(slow_value)s (previous candle: %(fast_before)s >= %(slow_before)s)"
    ),
    gettext_noop("%(fast)s %(fast_value)s is above %(slow)s %(slow_value)s, no cross"),
    gettext_noop("%(fast)s %(fast_value)s is below %(slow)s %(slow_value)s, no cross"),
    gettext_noop("%(fast)s %(fast_value)s is level with %(slow)s %(slow_value)s, no cross"),
    # --- manual orders (trading/engine/manual.py) --------------------------------------------------------
    gettext_noop("Manual buy (krw amount) requested by %(actor)s"),
    gettext_noop("Manual sell (volume) requested by %(actor)s"),
    gettext_noop("Manual sell all requested by %(actor)s"),
    gettext_noop("Manual close position requested by %(actor)s"),
    gettext_noop("manual (%(actor)s): buy %(krw)s KRW"),
    # The fixed wordings before the one with a volume, whose placeholder would take "everything" in.
    gettext_noop("manual (%(actor)s): sell everything"),
    gettext_noop("manual (%(actor)s): sell %(volume)s"),
    # --- the exchange's errors (exchange/upbit/errors.py, exchange/upbit/client.py, exchange/matching.py)
    gettext_noop("Upbit: %(message)s"),
    gettext_noop("could not connect to Upbit (%(kind)s) for %(method)s %(path)s; nothing was sent"),
    gettext_noop("the order %(identifier)s was sent but no answer came back (%(kind)s); it may or may not have been placed"),
    gettext_noop("Upbit did not answer %(method)s %(path)s in time (%(kind)s)"),
    gettext_noop("the connection to Upbit failed during %(method)s %(path)s (%(kind)s)"),
    gettext_noop(
        "Upbit kept refusing calls in the '%(group)s' group for exceeding its rate limit after %(attempts)s attempts; slow down"
    ),
    gettext_noop(
        "Upbit has banned this IP address or account for %(seconds)s seconds for repeatedly exceeding its "
        "rate limits. Stop every program using this key or IP and wait before restarting; another violation "
        "makes the ban longer"
    ),
    gettext_noop(
        "Upbit has banned this IP address or account (Upbit did not say for how long) for repeatedly "
        "exceeding its rate limits. Stop every program using this key or IP and wait before restarting; "
        "another violation makes the ban longer"
    ),
    gettext_noop("Upbit answered %(http)s to the order %(identifier)s; it may or may not have been placed"),
    gettext_noop("Upbit is unavailable"),
    gettext_noop("Upbit is unavailable (HTTP %(http)s)"),
    gettext_noop("Upbit refused a reused request nonce; nothing was done: %(message)s"),
    gettext_noop(
        "the request signature was rejected: check that UPBIT_SECRET_KEY is the secret key issued together "
        "with UPBIT_ACCESS_KEY (copy it again, without spaces)"
    ),
    gettext_noop(
        "the API key was rejected: check UPBIT_ACCESS_KEY (it must be an access key from Upbit's Open API management page)"
    ),
    gettext_noop(
        "the API key has expired (Upbit keys last one year and cannot be extended): issue a new key and "
        "update UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY"
    ),
    gettext_noop(
        "this computer's public IP address is not allowed for the API key: add it to the key's IP list on "
        "Upbit's Open API management page"
    ),
    gettext_noop(
        "the API key lacks a permission this call needs: enable 자산조회 (view assets), 주문조회 (view orders) and "
        "주문하기 (place orders) for the key"
    ),
    gettext_noop("the exchange received no Authorization header: a proxy between this computer and Upbit may be removing it"),
    gettext_noop(
        "the exchange could not verify the signed query (query_hash): a proxy may be rewriting the request, "
        "or the parameters were altered after signing"
    ),
    gettext_noop(
        "Upbit requires a one-time consent before trading this market: accept the third-party terms on the Upbit app or website"
    ),
    gettext_noop(
        "Upbit has locked Open API use on this account: release the lock on the Upbit website (security settings), then restart"
    ),
    gettext_noop("the market is offline for maintenance; nothing was done: %(message)s"),
    gettext_noop(
        "Upbit refused the API key for this call (HTTP %(http)s); check the key, its permissions and its "
        "allowed IP list: %(message)s"
    ),
    gettext_noop("Upbit has no ticker for market %(market)s"),
    gettext_noop("Upbit has no order book for market %(market)s"),
    gettext_noop("Upbit has no order-book rules for market %(market)s"),
    gettext_noop("Upbit answered an unexpected redirect (HTTP %(http)s) for %(method)s %(path)s"),
    gettext_noop("Upbit's answer to %(method)s %(path)s was not JSON"),
    gettext_noop("order total %(total)s KRW is below the minimum %(minimum)s KRW"),
    gettext_noop("order total %(total)s KRW is above the maximum %(maximum)s KRW"),
    gettext_noop("order needs %(krw)s KRW (total + fee); %(free)s KRW is free"),
    gettext_noop("order needs volume %(volume)s; %(free)s is free"),
    gettext_noop("no bids on the order book to sell into"),
    gettext_noop("no asks on the order book to buy from"),
    gettext_noop("market buy total %(total)s KRW exceeds the asks on the first 30 levels"),
    gettext_noop("market sell volume %(volume)s exceeds the bids on the first 30 levels"),
    gettext_noop("price %(price)s is not on the KRW tick grid"),
    gettext_noop("identifier %(identifier)s was already used"),
    # --- the engine's failures and stops (trading/engine/failures.py, runner.py, outage.py, claim.py, decisions.py, cycle.py)
    gettext_noop(
        "The exchange refused to continue: %(error)s. check TRADING_MARKET (%(market)s) and the settings, then press Reset"
    ),
    gettext_noop(
        "The exchange refused to continue: %(error)s. Press Reset when you are ready; the engine makes no "
        "call to Upbit before %(time)s"
    ),
    gettext_noop("The exchange refused to continue: %(error)s. Wait a few minutes, then press Reset"),
    gettext_noop(
        "The exchange refused to continue: %(error)s. check UPBIT_ACCESS_KEY/UPBIT_SECRET_KEY, the key's "
        "permissions and its allowed IP addresses, then press Reset"
    ),
    gettext_noop("Unexpected error in the trading cycle: %(error)s"),
    gettext_noop("Waiting %(seconds)s s for Upbit's ban to end (until %(time)s); no call is made to Upbit until then"),
    gettext_noop("Some open orders could not be cancelled: %(problems)s"),
    gettext_noop(
        "the daily loss limit was reached: today's PnL is %(pnl)s KRW (realized %(realized)s, unrealized "
        "%(unrealized)s), limit -%(limit)s KRW (MAX_DAILY_LOSS_KRW). Open orders were cancelled; trading "
        "stays stopped until Reset, and new entries stay blocked until local midnight"
    ),
    gettext_noop(
        "autocoin daily summary %(day)s (%(mode)s, %(market)s): realized %(realized)s KRW, unrealized "
        "%(unrealized)s KRW, fees %(fees)s KRW, %(fills)s fill(s), max drawdown %(drawdown)s KRW"
    ),
    gettext_noop("The database did not answer for %(seconds)s s (last error: %(error)s); the engine carried on"),
    gettext_noop(
        "The database did not answer for %(seconds)s s (longer than DB_OUTAGE_MAX_SEC=%(limit)s; last error: "
        "%(error)s); no order was sent meanwhile. Check the database, then press Reset"
    ),
    gettext_noop(
        "another engine process (%(owner)s, claim %(generation)s) owns the engine now, not this one "
        "(%(mine)s, claim %(my_generation)s); no order sent, and this process stops trading"
    ),
    gettext_noop("Another engine process (%(owner)s) took over this engine; this one stops now"),
    gettext_noop("the trading thread stopped unexpectedly: %(error)s"),
    gettext_noop("engine process received %(signal)s"),
    gettext_noop("stopped on %(signal)s while the database did not answer (state unchanged)"),
    gettext_noop("stopped on %(signal)s"),
    gettext_noop("stopped"),
    gettext_noop("cycle failed: %(error)s"),
    gettext_noop("restart %(count)s; the previous one exited with code %(code)s after %(seconds)s s"),
    gettext_noop("restart %(count)s; the previous one was killed by signal %(signal)s after %(seconds)s s"),
    gettext_noop("restart %(count)s; the previous one was killed by %(signal)s after %(seconds)s s"),
    gettext_noop(
        "Strategy %(strategy)s needs %(need)s closed %(unit)s-minute candles but the engine reads at most "
        "%(most)s: it stays in warm-up (HOLD). Choose shorter periods or a longer candle_unit"
    ),
    gettext_noop(
        "the last trade on %(market)s is %(age)s s old (TICKER_MAX_AGE_SEC=%(limit)s); no new entries until "
        "the market data is fresh (is the PC clock right?)"
    ),
    gettext_noop("running a cycle"),
    gettext_noop("checking the market data"),
    gettext_noop("reconciling open orders at start"),
    gettext_noop(
        "Today's starting value is unknown: the price at local midnight of %(day)s could not be read "
        "(%(error)s). New entries are blocked until it can be; exits, protective stops and manual sells still "
        "work. The engine asks again every cycle"
    ),
    gettext_noop(
        "Today's starting value is known again: the position carried into %(day)s is valued at %(price)s KRW "
        "(unrealized %(carried)s KRW at midnight); new entries are allowed again"
    ),
    gettext_noop("the tick read before (%(tick)s)"),
    gettext_noop("the built-in KRW tick table"),
    gettext_noop("never"),
    # --- orders found again, cancelled, or settled (trading/engine/orders.py)
    gettext_noop("Order %(identifier)s adopted from the exchange: %(before)s → %(status)s, %(fills)s new fill(s)"),
    gettext_noop("Order %(identifier)s updated: %(before)s → %(status)s, %(fills)s new fill(s)"),
    gettext_noop(
        "Order %(identifier)s was not found on the exchange after %(lookups)s lookups over %(seconds)s s: it "
        "never reached the exchange (was %(before)s); %(market)s is free for new orders"
    ),
    gettext_noop("kill-switch"),
    # --- the reasons a state change, a pause or a setting change is stored with
    gettext_noop("start requested"),
    gettext_noop("stop requested"),
    gettext_noop("cycle finished"),
    gettext_noop("reset requested"),
    gettext_noop("engine process offline: no cycle was running"),
    gettext_noop("the current cycle finished"),
    gettext_noop("no cycle was running"),
    gettext_noop("demo start"),
    gettext_noop("replay starts"),
    gettext_noop("replay"),
    gettext_noop("replay finished"),
    gettext_noop("operator reset during a replay"),
    gettext_noop("operator restart during a replay"),
    gettext_noop("paused from the dashboard"),
    gettext_noop("paused in the admin"),
    gettext_noop("strategy %(strategy)s parameters"),
    gettext_noop("parameters of backtest #%(job)s (run #%(run)s) applied to %(strategy)s by %(actor)s: no change"),
    gettext_noop("parameters of backtest #%(job)s (run #%(run)s) applied to %(strategy)s by %(actor)s: %(changes)s"),
    # --- more of the risk gate's reasons (trading/engine/risk_text.py, risk.py, trading/strategies/slippage.py)
    gettext_noop("a buy of %(krw)s (bound by %(bound)s) is below Upbit's minimum order of %(minimum)s"),
    gettext_noop("the KRW balance incl. the fee"),
    gettext_noop("the position cap (%(locked)s of it already locked in open buy orders)"),
    gettext_noop("the position cap"),
    gettext_noop("a sell volume must be positive, got %(volume)s"),
    gettext_noop("a sell of %(volume)s is more than the free balance %(free)s"),
    gettext_noop(
        "dust: %(volume)s worth %(value)s is below Upbit's minimum order of %(minimum)s; it cannot be sold "
        "and stays in the account"
    ),
    gettext_noop("a sell of %(volume)s worth %(value)s is below Upbit's minimum order of %(minimum)s"),
    gettext_noop(
        "today's starting value is unknown: the price at local midnight (%(day)s) of the position held since "
        "before midnight could not be read yet, so the daily loss limit cannot be judged; no new entries "
        "until it is (exits and sells still work)"
    ),
    gettext_noop(
        "position cap: the coin would be worth %(value)s (with %(locked)s locked in open buy orders), "
        "%(share)s%% of equity %(equity)s; MAX_POSITION_RATIO=%(ratio)s allows %(cap)s"
    ),
    gettext_noop(
        "position cap: the coin would be worth %(value)s, %(share)s%% of equity %(equity)s; "
        "MAX_POSITION_RATIO=%(ratio)s allows %(cap)s"
    ),
    gettext_noop("no usable market price (%(price)s)"),
    gettext_noop("skip: the order book has no asks to buy against"),
    gettext_noop("skip: the order book has no bids to sell against"),
    gettext_noop("skip: %(size)s %(unit)s does not fill one 0.00000001 unit at %(best)s"),
    gettext_noop("skip: %(why)s; the largest order within it, %(total)s KRW, is below Upbit's minimum %(minimum)s KRW"),
    gettext_noop("shrunk from %(size)s to %(shrunk)s %(unit)s: %(why)s; the smaller order averages %(average)s (%(pct)s)"),
    gettext_noop(
        "shrunk from %(size)s to %(shrunk)s %(unit)s: %(why)s; %(keep)s coin is kept back so the rest stays "
        "worth Upbit's minimum order; the smaller order averages %(average)s (%(pct)s)"
    ),
    gettext_noop("the whole order would average %(average)s, %(pct)s above the best ask %(best)s, over the limit %(limit)s%%"),
    gettext_noop("the whole order would average %(average)s, %(pct)s below the best bid %(best)s, over the limit %(limit)s%%"),
    gettext_noop("the asks on the book hold only %(depth)s %(unit)s"),
    gettext_noop("the bids on the book hold only %(depth)s %(unit)s"),
    gettext_noop("coin"),
    # --- a strategy's parameters refused (trading/strategies/params.py, base.py, registry.py)
    gettext_noop("%(range)s (0 or null turns it off)"),
    gettext_noop("a whole number at least %(low)s and at most %(high)s"),
    gettext_noop("a whole number more than %(low)s and at most %(high)s"),
    gettext_noop("a whole number at least %(low)s and less than %(high)s"),
    gettext_noop("a whole number more than %(low)s and less than %(high)s"),
    gettext_noop("a number at least %(low)s and at most %(high)s"),
    gettext_noop("a number more than %(low)s and at most %(high)s"),
    gettext_noop("a number at least %(low)s and less than %(high)s"),
    gettext_noop("a number more than %(low)s and less than %(high)s"),
    gettext_noop("one of %(choices)s"),
    gettext_noop("is missing"),
    gettext_noop("is a boolean"),
    gettext_noop("is not a whole number"),
    gettext_noop("is not a number"),
    gettext_noop("is not a finite number"),
    gettext_noop("is not allowed"),
    gettext_noop("is out of range"),
    gettext_noop("unknown strategy %(name)s; use one of: %(names)s"),
    # --- event messages (trading/events.py and the engine) -----------------------------------------------
    gettext_noop("Engine process %(owner)s started"),
    gettext_noop("Engine process %(owner)s took over from %(previous)s, which had stopped (no process or a stale heartbeat)"),
    gettext_noop("Engine process %(owner)s refused to start: %(running)s is already running (last heartbeat %(age)s)"),
    gettext_noop("Engine process %(owner)s exited: %(reason)s"),
    gettext_noop("The launcher restarted the engine process (%(note)s); %(owner)s runs it now"),
    gettext_noop("%(old)s → %(new)s by %(actor)s: %(reason)s"),
    gettext_noop("%(old)s → %(new)s by %(actor)s"),
    gettext_noop("%(what)s changed by %(actor)s"),
    gettext_noop("Manual order queued by %(actor)s: buy %(krw)s KRW on %(market)s"),
    gettext_noop("Manual order queued by %(actor)s: sell all on %(market)s"),
    gettext_noop("Manual order queued by %(actor)s: close position on %(market)s"),
    gettext_noop("Manual order queued by %(actor)s: sell %(volume)s on %(market)s"),
    gettext_noop("Manual order #%(id)s rejected: %(problem)s"),
    gettext_noop("Manual order #%(id)s cancelled by %(actor)s before the engine carried it out"),
    gettext_noop("Manual order #%(id)s expired unexecuted: queued %(age)s s ago, longer than MANUAL_ORDER_TTL_SEC=%(ttl)s"),
    gettext_noop("Cancel requested by %(actor)s for %(count)s open order(s): %(orders)s"),
    gettext_noop("Paper account reset by %(actor)s to %(krw)s KRW (%(count)s open paper order(s) cancelled)"),
    gettext_noop(
        "History older than %(days)s days pruned: %(events)s events, %(signals)s HOLD signals, %(snapshots)s balance "
        "snapshots (orders and fills are kept)"
    ),
    gettext_noop("Order intent: %(order)s (%(reason)s)"),
    gettext_noop("Order placed: %(order)s → %(status)s (uuid %(uuid)s)"),
    gettext_noop("Order rejected by the exchange: %(order)s: %(error)s"),
    gettext_noop("Order refused: %(problem)s"),
    gettext_noop("Order outcome unknown (%(error)s); no new order on %(market)s until it is found"),
    gettext_noop("Order %(identifier)s cancelled as requested by %(actor)s: now %(status)s"),
    gettext_noop("Order %(identifier)s cancelled: %(reason)s"),
    gettext_noop(
        "Start-up reconciliation: %(checked)s open order(s) checked, %(resolved)s settled, %(unknown)s still unknown, "
        "%(fills)s fill(s) recovered"
    ),
    gettext_noop("Fill: %(side)s %(volume)s %(market)s @ %(price)s KRW (fee %(fee)s KRW)"),
    gettext_noop("Exchange error while %(step)s: %(error)s (consecutive failures: %(count)s); retrying in %(seconds)s s"),
    gettext_noop("Exchange error while %(step)s: %(error)s (consecutive failures: %(count)s)"),
    gettext_noop("Kill-switch tripped: %(reason)s"),
    gettext_noop("%(side)s from %(source)s blocked by the risk gate: %(reasons)s"),
    gettext_noop("Order shrunk by the slippage limit: %(reason)s"),
    gettext_noop("Order rules unavailable (%(error)s); using Upbit's KRW fee 0.05%% and minimum 5,000 KRW"),
    gettext_noop("Tick size of %(market)s unavailable (%(error)s); limit prices use %(instead)s until Upbit answers"),
    gettext_noop("Live pre-flight for %(market)s failed: %(checks)s"),
    gettext_noop("Notification via %(channel)s failed: %(error)s"),
    gettext_noop("best parameters of study %(study)s (trial #%(trial)s) applied to %(strategy)s by %(actor)s"),
    gettext_noop("Strategy parameters for %(strategy)s are invalid (%(error)s); using the defaults"),
    gettext_noop("Start pressed in the admin"),
    gettext_noop("Stop pressed in the admin"),
    gettext_noop("Reset pressed in the admin"),
    # --- why an order was made (trading/engine/cycle.py) ------------------------------------------------
    gettext_noop("%(action)s by %(strategy)s: %(rule)s"),
    # --- an order as a message names it (events.order_described) -----------------------------------------
    gettext_noop("buy price %(krw)s KRW on %(market)s"),
    gettext_noop("buy limit %(volume)s @ %(price)s KRW on %(market)s"),
    gettext_noop("sell limit %(volume)s @ %(price)s KRW on %(market)s"),
    gettext_noop("sell market %(volume)s on %(market)s"),
    gettext_noop("buy best %(krw)s on %(market)s"),
    gettext_noop("sell best %(volume)s on %(market)s"),
    # --- the risk gate's reasons (trading/engine/risk_text.py) --------------------------------------------
    gettext_noop(
        "cooldown: the last %(side)s order was %(elapsed)s s ago; the next %(side)s is allowed in %(wait)s s "
        "(ORDER_COOLDOWN_SEC=%(cooldown)s)"
    ),
    gettext_noop("nothing to sell: the free coin balance is 0"),
    gettext_noop("the coin would be %(share)s%% of equity (cap %(cap)s%%)"),
    gettext_noop("a buy of %(krw)s is below Upbit's minimum order of %(minimum)s"),
    gettext_noop("a buy of %(krw)s is more than %(bound)s allows; the most allowed now is %(most)s"),
    gettext_noop(
        "daily loss limit reached: today's PnL %(pnl)s (realized %(realized)s, unrealized %(unrealized)s) is at or below "
        "-%(limit)s; no new entries until local midnight"
    ),
    gettext_noop(
        "daily loss limit of %(limit)s was reached earlier today (%(day)s); no new entries until local midnight "
        "(today's PnL now %(pnl)s)"
    ),
    gettext_noop("kill switch is on: %(reason)s; no new entries until it is reset"),
    gettext_noop("kill switch is on; no new entries until it is reset"),
)

# The sentences an event is written with by code (`trading.event_texts`: the event carries the code and its
# parameters in `meta["text"]`); recognised by shape too, where a request's result or a reason quotes one.
EVENT_SENTENCES: dict[str, str] = {
    "open_order": gettext_noop(
        "order %(identifier)s is still open on the exchange (WAIT): no new order on %(market)s until it is filled or cancelled"
    ),
    "unsettled_order": gettext_noop("order %(identifier)s is still %(status)s: its outcome must be known first"),
    "position_locked": gettext_noop(
        "position cap: %(krw_locked)s KRW locked in open buy orders already counts as position, so this buy would "
        "exceed MAX_POSITION_RATIO=%(ratio)s"
    ),
    "order_rate_limited": gettext_noop(
        "Order not placed: Upbit refused it for its rate limit (HTTP 429): %(order)s; the engine waits before the next order"
    ),
    "stream_fresh": gettext_noop("Market data from the WebSocket stream: the stream is connected and fresh"),
    "stream_disconnected": gettext_noop("Market data from REST polling: the stream is disconnected (%(error)s)"),
    "stream_silent": gettext_noop(
        "Market data from REST polling: the stream has been silent for %(seconds)s s (STREAM_STALE_SEC=%(limit)s)"
    ),
    "stream_no_ticker": gettext_noop("Market data from REST polling: the stream has sent no ticker yet"),
    "claim_lost": gettext_noop(
        "Order on %(market)s not sent: another engine process (%(owner)s) owns the engine now; this process stops trading"
    ),
    "entries_paused_manual": gettext_noop(
        "new entries paused by %(actor)s (%(reason)s); exits, protective stops and manual orders still run"
    ),
    "entries_paused_schedule": gettext_noop(
        "new entries paused by the schedule window “%(label)s” (%(starts)s – %(ends)s, Seoul time)"
    ),
    "entries_paused_market_offline": gettext_noop(
        "market offline (Upbit maintenance) since %(since)s: no new entries until %(until)s (Seoul time)"
    ),
    "entries_pause_set": gettext_noop("New entries paused by %(actor)s: %(reason)s"),
    "entries_pause_cleared": gettext_noop("New entries resumed by %(actor)s"),
    "entries_pause_cleared_reason": gettext_noop("New entries resumed by %(actor)s: %(reason)s"),
    "market_offline_order": gettext_noop(
        "Market offline (Upbit maintenance) while placing an order: no new entries until %(until)s (Seoul time)"
    ),
    "market_offline_market": gettext_noop(
        "Market offline (Upbit maintenance) while reading the market: no new entries until %(until)s (Seoul time)"
    ),
}

# The loosest shapes (a manual request's result): tried after every other one, the event sentences included.
LOOSE_TEMPLATES: tuple[str, ...] = (
    # A leading or trailing placeholder takes in anything before or after: tried after every fuller shape.
    gettext_noop(
        "%(count)s exchange calls in a row failed (last: %(error)s); check the network and Upbit's status, then press Reset"
    ),
    gettext_noop(
        "%(count)s orders in a row were rejected by the exchange (last: %(error)s); check the balance and the "
        "order settings, then press Reset"
    ),
    gettext_noop(
        "%(count)s orders in a row were refused by Upbit's rate limit (HTTP 429), so none was placed; another "
        "program may be using this API key or IP address: stop it, then press Reset"
    ),
    gettext_noop("%(seconds)s s ago"),
    gettext_noop("%(shown)s and %(more)s more"),
    gettext_noop("pause window #%(id)s"),
    gettext_noop("%(strategy)s: parameter %(name)s must be less than %(other)s"),
    gettext_noop("%(strategy)s: unknown parameter %(name)s; allowed: %(names)s"),
    gettext_noop("%(strategy)s: parameters must be an object of name: value, got %(type)s"),
    gettext_noop("%(strategy)s: parameter %(assignment)s %(problem)s; use %(allowed)s"),
    # --- a manual request's result (trading/engine/gate.py, manual.py, trading/manual_requests.py): the loosest shapes, last
    gettext_noop("blocked: %(reasons)s"),
    gettext_noop("cancelled by %(actor)s"),
    gettext_noop("expired: not carried out within %(ttl)s s (waited %(age)s s); never sent"),
    gettext_noop("order %(identifier)s: %(status)s (refused by Upbit's rate limit, so not placed; queue it again later)"),
    gettext_noop(
        "order %(identifier)s: %(status)s (it never reached the exchange; queue the request again if you still want it)"
    ),
    gettext_noop("order %(identifier)s: %(status)s (%(error)s)"),
    gettext_noop("order %(identifier)s: %(status)s"),
)
