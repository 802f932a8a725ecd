# Accounts, sites and trial data are managed through the EDC's own audited pages, not Django admin:
# the admin would bypass the services (reason for change, audit events, signatures).
