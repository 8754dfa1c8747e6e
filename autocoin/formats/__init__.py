"""Date and number formats for the console (FORMAT_MODULE_PATH), in English and Korean alike: 24-hour times
with seconds, ISO dates, so the admin's dates and times read the same as the dashboard's and the exports'.
Times are shown in TIME_ZONE (Asia/Seoul by default)."""
