# Figure 1 of the paper from the toy's CSV: trajectories z(t) of both models, coloured by
# |d³z/dt³| on one logarithmic colour scale. Usage: gnuplot -e "dir='out/toy'" plot.gp
if (!exists("dir")) dir = 'out/toy'
if (!exists("reg")) reg = 'R3'
set datafile separator ','
set terminal pngcairo size 1100,450 font ',11'
set output dir.'/toy.png'
set multiplot layout 1,2 title 'Learning z(1) = z(0) + z(0)^3: trajectories coloured by |d^3z/dt^3|'
set xlabel 't'
set ylabel 'z(t)'
set xrange [0:1]
set yrange [-2.2:2.2]
set logscale cb
set cbrange [1e-3:100]
set palette rgb 33,13,10
unset key
file = dir.'/toy_trajectories.csv'
set title 'unregularized'
plot file every ::1 using 3:(strcol(1) eq 'unregularized' ? $4 : NaN):($5 + 1e-3) with points pt 7 ps 0.35 lc palette
set title reg.'-regularized'
set cblabel '|d^3z/dt^3|'
plot file every ::1 using 3:(strcol(1) ne 'unregularized' ? $4 : NaN):($5 + 1e-3) with points pt 7 ps 0.35 lc palette
unset multiplot
