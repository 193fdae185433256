# Host tools for the IHD consumption history store (see docs/history.md).
