"""Parameter search over backtests (`manage.py optimize`): Optuna draws the parameters, trading.backtest scores them."""
