-- serviceCatalog pages by service id in byte order (`COLLATE "C"`, so cursors compare the
-- same whatever the database's collation). The primary key's index is in the database's
-- collation (C.UTF-8 here, which PostgreSQL 15 does not treat as "C"), so it cannot serve that
-- order: every page read and sorted the whole table (a top-N sort after a sequential scan,
-- ~2-3 ms at 10,000 services, linear in the catalog). In byte order, the page is an index
-- range scan that stops after it, whatever the size of the catalog.
CREATE UNIQUE INDEX catalog_services_page ON catalog_services (service_id COLLATE "C");
