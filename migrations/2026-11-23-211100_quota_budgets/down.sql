DROP TABLE quota_leases; DROP TABLE quota_budgets;
