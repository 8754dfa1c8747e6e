"""The replay: the real trading engine over stored candles at a simulated clock (docs/BACKTEST.md, "Replay")."""
