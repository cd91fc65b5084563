#!/usr/bin/env Rscript
# Install what building, testing and checking this package needs.
#
#   Rscript tools/install-deps.R [--desc=DESCRIPTION] [--no-system] [extra-pkg ...]
#
# * R packages: everything named in Depends, Imports, LinkingTo and Suggests of
#   DESCRIPTION (base packages excluded, version requirements honoured) plus the
#   extra packages given as arguments (e.g. roxygen2).
#   As root on Debian/Ubuntu the missing ones are installed first as
#   `r-cran-<name>` with apt-get (prebuilt, fast); whatever is still missing or
#   too old is then installed from CRAN with install.packages().
# * System tools: pandoc (vignettes via rmarkdown) and qpdf (R CMD check
#   --as-cran), installed with apt-get when missing. --no-system (or
#   DEPS_SKIP_SYSTEM=1) skips them.
#
# Idempotent: when everything is present it only reads DESCRIPTION and the
# library index (well under a second). Exits non-zero when something is still
# missing at the end. Development helper only (excluded by .Rbuildignore).

options(warn = 1)

args <- commandArgs(trailingOnly = TRUE)
desc_file <- "DESCRIPTION"
skip_system <- Sys.getenv("DEPS_SKIP_SYSTEM") %in% c("1", "true", "TRUE", "yes")
extra <- character()
for (a in args) {
  if (startsWith(a, "--desc=")) {
    desc_file <- sub("^--desc=", "", a)
  } else if (a == "--no-system") {
    skip_system <- TRUE
  } else if (startsWith(a, "-")) {
    stop("unknown option: ", a)
  } else {
    extra <- c(extra, a)
  }
}
repos <- Sys.getenv("DEPS_CRAN", "https://cloud.r-project.org")

say <- function(...) cat("[deps] ", ..., "\n", sep = "")

# ---------------------------------------------------------------- requirements
if (!file.exists(desc_file)) stop("cannot find ", desc_file)
dcf <- read.dcf(desc_file)
fields <- intersect(c("Depends", "Imports", "LinkingTo", "Suggests"), colnames(dcf))

# "pkg (>= 1.0), other" -> data.frame(name, op, version)
parse_deps <- function(x) {
  if (is.na(x)) return(NULL)
  parts <- trimws(strsplit(gsub("[[:space:]]+", " ", x), ",", fixed = TRUE)[[1]])
  parts <- parts[nzchar(parts)]
  if (!length(parts)) return(NULL)
  name <- trimws(sub("\\(.*$", "", parts))
  has_req <- grepl("\\(.*\\)", parts)
  req <- ifelse(has_req, trimws(sub("^[^(]*\\(([^)]*)\\).*$", "\\1", parts)), "")
  op <- ifelse(has_req, sub("^([<>=!]+).*$", "\\1", req), "")
  ver <- ifelse(has_req, trimws(sub("^[<>=!]+", "", req)), "")
  data.frame(name = name, op = op, version = ver, stringsAsFactors = FALSE)
}

reqs <- do.call(rbind, c(lapply(fields, function(f) parse_deps(dcf[1L, f])),
                         list(parse_deps(paste(extra, collapse = ", ")))))
if (is.null(reqs)) reqs <- data.frame(name = character(), op = character(),
                                      version = character())

base_pkgs <- c("R", "base", "compiler", "datasets", "graphics", "grDevices",
               "grid", "methods", "parallel", "splines", "stats", "stats4",
               "tcltk", "tools", "utils",
               rownames(utils::installed.packages(priority = "base")))
reqs <- reqs[!reqs$name %in% base_pkgs, , drop = FALSE]
pkgs <- unique(reqs$name)

# ------------------------------------------------------------ what is missing
installed_versions <- function() {
  ip <- utils::installed.packages(noCache = TRUE, fields = "Version")
  # installed.packages() lists libraries in .libPaths() order; the first copy
  # is the one library() loads.
  ip <- ip[!duplicated(ip[, "Package"]), , drop = FALSE]
  stats::setNames(ip[, "Version"], ip[, "Package"])
}

missing_pkgs <- function() {
  iv <- installed_versions()
  ok <- vapply(pkgs, function(p) {
    if (is.na(iv[p])) return(FALSE)
    r <- reqs[reqs$name == p & nzchar(reqs$op), , drop = FALSE]
    for (i in seq_len(nrow(r))) {
      if (!isTRUE(do.call(r$op[i], list(package_version(iv[[p]]),
                                        package_version(r$version[i])))))
        return(FALSE)
    }
    TRUE
  }, logical(1))
  pkgs[!ok]
}

tools_needed <- if (skip_system) character() else c("pandoc", "qpdf")
missing_tools <- function() tools_needed[!nzchar(Sys.which(tools_needed))]

miss <- missing_pkgs()
miss_tools <- missing_tools()
if (!length(miss) && !length(miss_tools)) {
  say("all ", length(pkgs), " R packages present",
      if (length(tools_needed)) paste0("; ", paste(tools_needed, collapse = ", "), " present"),
      ".")
  quit(save = "no", status = 0)
}
if (length(miss)) say("missing or too old R packages: ", paste(miss, collapse = " "))
if (length(miss_tools)) say("missing system tools: ", paste(miss_tools, collapse = " "))

# --------------------------------------------------------------------- apt-get
is_root <- identical(unname(Sys.info()[["effective_user"]]), "root")
use_apt <- is_root && nzchar(Sys.which("apt-get")) &&
  !Sys.getenv("DEPS_NO_APT") %in% c("1", "true", "TRUE", "yes")

if (use_apt) {
  Sys.setenv(DEBIAN_FRONTEND = "noninteractive")
  apt_opts <- c("-q", "-o", "DPkg::Lock::Timeout=300")
  say("apt-get update")
  if (system2("apt-get", c(apt_opts, "update")) != 0)
    say("apt-get update failed; trying with the existing package lists")

  # Which of the candidate Debian packages exist?
  apt_available <- function(debs) {
    out <- suppressWarnings(system2("apt-cache", c("policy", debs),
                                    stdout = TRUE, stderr = FALSE))
    avail <- character()
    cur <- NA_character_
    for (line in out) {
      if (grepl("^[^[:space:]].*:$", line)) {
        cur <- sub(":[[:alnum:]]+$", "", sub(":$", "", line))
      } else if (!is.na(cur) && grepl("^[[:space:]]+Candidate:", line)) {
        if (!grepl("\\(none\\)", line)) avail <- c(avail, cur)
        cur <- NA_character_
      }
    }
    intersect(debs, avail)
  }
  apt_install <- function(debs) {
    if (!length(debs)) return(invisible(TRUE))
    say("apt-get install ", paste(debs, collapse = " "))
    ok <- system2("apt-get", c(apt_opts, "install", "-y", "--no-install-recommends",
                               debs)) == 0
    if (!ok && length(debs) > 1L) {
      say("apt-get install of the whole set failed; trying one at a time")
      for (d in debs)
        system2("apt-get", c(apt_opts, "install", "-y", "--no-install-recommends", d))
    }
    invisible(ok)
  }

  debs <- c(paste0("r-cran-", tolower(miss)), miss_tools)
  avail <- apt_available(debs)
  not_in_apt <- setdiff(debs, avail)
  if (length(not_in_apt))
    say("not available from apt: ", paste(not_in_apt, collapse = " "))
  apt_install(avail)
  miss <- missing_pkgs()
  miss_tools <- missing_tools()
} else if (length(miss_tools)) {
  say("not root or no apt-get: cannot install ", paste(miss_tools, collapse = " "),
      " (install them yourself, or set DEPS_SKIP_SYSTEM=1 to skip this step)")
}

# ------------------------------------------------------------------------ CRAN
if (length(miss)) {
  lib <- .libPaths()[1L]
  if (file.access(lib, 2L) != 0L) {
    lib <- Sys.getenv("R_LIBS_USER")
    dir.create(lib, recursive = TRUE, showWarnings = FALSE)
    .libPaths(c(lib, .libPaths()))
  }
  say("install.packages from ", repos, " into ", lib, ": ", paste(miss, collapse = " "))
  utils::install.packages(miss, lib = lib, repos = repos, Ncpus = 2L,
                          dependencies = NA, quiet = FALSE)
  miss <- missing_pkgs()
}

# ----------------------------------------------------------------------- check
broken <- character()
for (p in setdiff(pkgs, miss)) {
  if (!suppressWarnings(suppressMessages(requireNamespace(p, quietly = TRUE))))
    broken <- c(broken, p)
}

status <- 0L
if (length(miss)) {
  say("ERROR: still missing or too old: ", paste(miss, collapse = " "))
  status <- 1L
}
if (length(broken)) {
  say("ERROR: installed but cannot be loaded: ", paste(broken, collapse = " "))
  status <- 1L
}
if (length(miss_tools)) {
  say("ERROR: system tools still missing: ", paste(miss_tools, collapse = " "))
  status <- 1L
}
if (status == 0L) say("done: all ", length(pkgs), " R packages present.")
quit(save = "no", status = status)
