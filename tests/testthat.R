library(testthat)
library(deepbmc)

test_check("deepbmc")
